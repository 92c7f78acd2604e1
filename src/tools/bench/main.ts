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
import { UsageError } from '../../core/errors.js';
import { parseToolArgs } from '../flags.js';
import { EXIT_FAILURE, EXIT_OK, processIo, type ToolIo, usageError, wantsLiveLine } from '../io.js';
import { formatTarget, resolveTarget, type Target } from '../target.js';
import type { EngineReport } from './engine.js';
import { BENCH_FLAGS, type BenchOptions, benchHelp, resolveBenchOptions } from './options.js';
import { combine, header, summary } from './report.js';
import { InlineRunner, split, WorkerRunner } from './runner.js';
import { Totals } from './totals.js';

/** The live line and the `--histogram` log have one interval per second. */
const TICK_MS = 1000;

export async function benchMain(argv: readonly string[], io: ToolIo = processIo()): Promise<number> {
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
  const live = !options.json && wantsLiveLine(io);
  let target: Target;
  try {
    target = await resolveTarget(options.target.host, options.target.port);
  } catch (err) {
    return fail(io, options, (err as Error).message);
  }
  if (!options.json) io.stdout.write(`${header(options)}\n`);

  const runners = split(options, target).map((spec) => (options.threads === 1 ? new InlineRunner(spec) : new WorkerRunner(spec)));
  try {
    await Promise.all(runners.map((runner) => runner.ready));
  } catch (err) {
    await Promise.all(runners.map((runner) => runner.dispose()));
    return fail(io, options, (err as Error).message);
  }

  const totals = new Totals(options);
  runners.forEach((runner, index) => {
    runner.onInterval = (interval) => totals.add(index, interval, false);
  });
  const startedAt = Date.now();
  const reports = Promise.all(runners.map((runner) => runner.start()));
  // Ctrl-C ends the measured window now and still prints the summary; a second one kills.
  let interrupted = false;
  const onInterrupt = (): void => {
    interrupted = true;
    process.off('SIGINT', onInterrupt);
    for (const runner of runners) runner.stop();
  };
  process.on('SIGINT', onInterrupt);
  const ticker = setInterval(() => {
    void Promise.all(runners.map((runner) => runner.roll())).then((intervals) => {
      intervals.forEach((interval, index) => {
        if (interval !== null) totals.add(index, interval, true);
      });
      const line = totals.tick(startedAt);
      if (live && line !== null) io.stdout.write(`\r\x1b[2K${line}`);
    });
  }, TICK_MS);
  let engineReports: EngineReport[];
  try {
    engineReports = await reports;
  } catch (err) {
    // A worker thread died (it cannot fail otherwise): the run has no trustworthy figures.
    if (live) io.stdout.write('\r\x1b[2K');
    return fail(io, options, `a worker thread failed: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    process.off('SIGINT', onInterrupt);
    clearInterval(ticker);
    await Promise.all(runners.map((runner) => runner.dispose()));
  }
  if (live) io.stdout.write('\r\x1b[2K');
  totals.flushLog();

  const result = combine(options, engineReports, totals.total);
  result.interrupted = interrupted;
  if (options.histogramFile !== null) {
    try {
      totals.log.write(options.histogramFile);
    } catch (err) {
      io.stderr.write(`echod bench: cannot write ${options.histogramFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}\n`);
      result.ok = false;
    }
  }
  io.stdout.write(options.json ? `${JSON.stringify(result)}\n` : `${summary(result)}\n`);
  return result.ok ? EXIT_OK : EXIT_FAILURE;
}

function checkWritable(path: string): void {
  try {
    writeFileSync(path, '');
  } catch (err) {
    throw new UsageError(`cannot write --histogram ${JSON.stringify(path)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

function fail(io: ToolIo, options: BenchOptions, message: string): number {
  if (options.json) io.stdout.write(`${JSON.stringify({ ok: false, target: formatTarget(options.target), error: message })}\n`);
  else io.stderr.write(`echod bench: ${message}\n`);
  return EXIT_FAILURE;
}
