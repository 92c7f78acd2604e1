/**
 * `echod bench [host:port]`: load an echo server and measure it, checking every byte it echoes.
 *
 * Closed loop by default: each connection keeps `--depth` messages in flight and sends the next
 * as soon as one comes back. With `--rate`, open loop: messages leave on a fixed schedule and
 * each latency runs from the message's intended send time, so a stalled server is charged for
 * every message it delayed (coordinated omission corrected, as wrk2 does).
 *
 * The work runs in {@link Engine}s (engine.ts): one in this thread, or one per worker with
 * `--threads` (runner.ts). This file starts the engines, asks each for an interval every second
 * (the live line and the `--histogram` log), and adds their reports into the summary.
 */
import { writeFileSync } from 'node:fs';
import { fileErrorReason, UsageError } from '../../core/errors.js';
import { parseToolArgs } from '../flags.js';
import { EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK } from '../../core/exit-codes.js';
import { endQuietlyOnBrokenPipe, processIo, type ToolIo, usageError, wantsLiveLine } from '../io.js';
import { formatTarget, resolveTarget, type Target } from '../target.js';
import type { EngineReport } from './engine.js';
import { CSV_HEADER, csvRow, type IntervalRow, jsonRow, textRow } from './interval.js';
import { BENCH_FLAGS, type BenchOptions, benchHelp, resolveBenchOptions } from './options.js';
import { combine, header, summary } from './report.js';
import { InlineRunner, type Runner, split, WorkerRunner } from './runner.js';
import { Totals } from './totals.js';
import { webBench, webSummary } from './web.js';

/** The live line and the `--histogram` log have one interval per second. */
const TICK_MS = 1000;

export async function benchMain(argv: readonly string[], io: ToolIo = processIo()): Promise<number> {
  endQuietlyOnBrokenPipe(io);
  let options: BenchOptions;
  try {
    const parsed = parseToolArgs(BENCH_FLAGS, argv);
    if (parsed.help) {
      io.stdout.write(`${benchHelp()}\n`);
      return EXIT_OK;
    }
    options = resolveBenchOptions(parsed.values, parsed.positionals);
    if (options.histogramFile !== null) checkWritable(options.histogramFile);
  } catch (err) {
    return usageError(io, 'bench', err);
  }
  const format = options.intervalFormat;
  const live = format === null && !options.json && wantsLiveLine(io);
  // With machine-read intervals, stdout holds only them (and, with json, the --json summary).
  const machine = format === 'json' || format === 'csv';
  const text = machine ? io.stderr : io.stdout;
  const summaryOut = format === 'csv' || (format === 'json' && !options.json) ? io.stderr : io.stdout;
  const printRows = (rows: readonly IntervalRow[]): void => {
    for (const row of rows) printRow(row);
  };
  const printRow = (row: IntervalRow): void => {
    if (live) io.stdout.write(`\r\x1b[2K${textRow(row)}`);
    else if (format === 'text') io.stdout.write(`${textRow(row)}\n`);
    else if (format === 'json') io.stdout.write(`${jsonRow(row)}\n`);
    else if (format === 'csv') io.stdout.write(`${csvRow(row)}\n`);
  };

  // Ctrl-C ends the measured window now and still prints the summary; a second one kills.
  // Before the run starts there is nothing to report: the run stops there.
  let interrupted = false;
  let runners: Runner[] = [];
  let stopWeb = (): void => {};
  const onInterrupt = (): void => {
    interrupted = true;
    process.off('SIGINT', onInterrupt);
    for (const runner of runners) runner.stop();
    stopWeb();
  };
  process.on('SIGINT', onInterrupt);
  try {
    if (options.web !== null) {
      const result = await webBench(
        options,
        options.web,
        io,
        () => interrupted,
        (stop) => (stopWeb = stop),
      );
      io.stdout.write(options.json ? `${JSON.stringify(result)}\n` : `${webSummary(result)}\n`);
      if (interrupted && result.msgs === 0) return EXIT_INTERRUPTED;
      return result.ok ? EXIT_OK : EXIT_FAILURE;
    }
    let target: Target;
    try {
      target = await resolveTarget(options.target.host, options.target.port);
    } catch (err) {
      return fail(io, options, (err as Error).message);
    }
    if (!options.json) text.write(`${header(options)}\n`);

    runners = split(options, target).map((spec) => (options.threads === 1 ? new InlineRunner(spec) : new WorkerRunner(spec)));
    try {
      await Promise.all(runners.map((runner) => runner.ready));
    } catch (err) {
      await Promise.all(runners.map((runner) => runner.dispose()));
      return fail(io, options, (err as Error).message);
    }
    if (interrupted) {
      for (const runner of runners) runner.stop();
      await Promise.all(runners.map((runner) => runner.dispose()));
      return interruptedBeforeStart(io, options);
    }

    const startedAt = Date.now();
    const totals = new Totals(options, runners.length, startedAt);
    runners.forEach((runner, index) => {
      // A phase change closes the row of the phase it ends (a part-second row), printed at once.
      runner.onInterval = (interval) => printRows(totals.add(index, interval, false));
    });
    if (format === 'csv') io.stdout.write(`${CSV_HEADER}\n`);
    const reports = Promise.all(runners.map((runner) => runner.start()));
    const ticker = setInterval(() => {
      // Each engine's interval is added as it comes, in the order of that engine's messages: a
      // phase change it hands in after this interval must not overtake it.
      const rolled = runners.map((runner, index) =>
        runner.roll().then((interval) => {
          if (interval !== null) totals.add(index, interval, true);
        }),
      );
      void Promise.all(rolled).then(() => printRows(totals.tick()));
    }, TICK_MS);
    let engineReports: EngineReport[];
    try {
      engineReports = await reports;
    } catch (err) {
      // A worker thread died (it cannot fail otherwise): the run has no trustworthy figures.
      if (live) io.stdout.write('\r\x1b[2K');
      return fail(io, options, `a worker thread failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      clearInterval(ticker);
      await Promise.all(runners.map((runner) => runner.dispose()));
    }
    if (live) io.stdout.write('\r\x1b[2K');
    // What is left of the last second: the rows add up to every echo of the run.
    const rest = totals.finish();
    if (!live) printRows(rest);

    const result = combine(options, engineReports, totals.total);
    result.interrupted = interrupted;
    if (options.histogramFile !== null) {
      try {
        totals.log.write(options.histogramFile);
      } catch (err) {
        io.stderr.write(`echod bench: cannot write ${options.histogramFile}: ${fileErrorReason(err)}\n`);
        result.ok = false;
      }
    }
    summaryOut.write(options.json ? `${JSON.stringify(result)}\n` : `${summary(result)}\n`);
    if (interrupted && result.msgs === 0) return EXIT_INTERRUPTED;
    return result.ok ? EXIT_OK : EXIT_FAILURE;
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}

function interruptedBeforeStart(io: ToolIo, options: BenchOptions): number {
  const message = 'interrupted before the run started: nothing was measured';
  if (options.json)
    io.stdout.write(`${JSON.stringify({ ok: false, target: formatTarget(options.target), interrupted: true, error: message })}\n`);
  else io.stderr.write(`echod bench: ${message}\n`);
  return EXIT_INTERRUPTED;
}

function checkWritable(path: string): void {
  try {
    writeFileSync(path, '');
  } catch (err) {
    throw new UsageError(`cannot write --histogram ${JSON.stringify(path)}: ${fileErrorReason(err)}`);
  }
}

function fail(io: ToolIo, options: BenchOptions, message: string): number {
  if (options.json) io.stdout.write(`${JSON.stringify({ ok: false, target: formatTarget(options.target), error: message })}\n`);
  else io.stderr.write(`echod bench: ${message}\n`);
  return EXIT_FAILURE;
}
