/**
 * `echod bench` on an `http://`/`https://` or `ws://`/`wss://` target: `--connections` kept-alive
 * HTTP connections, each sending one request after another (POST `?format=raw`, a unique body of
 * `--size` bytes, the echoed body compared byte for byte), or `--connections` WebSockets, each
 * keeping `--depth` messages in flight (binary, unique, compared byte for byte, in order, opcode
 * checked). Closed loop; latency from send to the whole echo, in the same HDR histograms as the
 * stream bench (one per second of the measured window, `--histogram FILE` their log);
 * requests/s or messages/s.
 */

/** The measured window is cut into intervals this long (the `--histogram` log's lines). */
const INTERVAL_MS = 1000;
import type { WebSocket } from 'ws';
import { fileErrorReason } from '../../core/errors.js';
import { stopReason } from '../connect-errors.js';
import { count, difference, plural } from '../format.js';
import type { ToolIo } from '../io.js';
import {
  formatWebTarget,
  notHttpReason,
  openWebSocket,
  type WebAgent,
  webAgent,
  webRequest,
  type WebTarget,
  webTransportName,
} from '../web.js';
import { classify, describeError, ERROR_KINDS, type ErrorKind, type ErrorSample, zeroErrors } from './errors.js';
import { HistogramLog, LatencyRecorder, summarize, totalHistogram } from './histogram.js';
import type { BenchOptions } from './options.js';
import { FILLER } from './payload.js';
import { latencyTable, type MeasuredRun, measuredWindow, PRINTED_SAMPLES } from './report.js';

/** Error samples kept for the report. */
const KEPT_SAMPLES = 10;

export interface WebBenchResult extends MeasuredRun {
  transport: WebTarget['scheme'];
  /** What one measured exchange is: an HTTP request and its response, or a WebSocket message and its echo. */
  unit: 'requests' | 'messages';
}

/** A unique payload of `size` bytes: the connection, the sequence number, then filler. */
function payload(connection: number, seq: number, size: number): Buffer {
  const head = `${connection}:${seq}:`;
  let text = head;
  while (text.length < size) text += FILLER;
  return Buffer.from(text.slice(0, size), 'latin1');
}

class Run {
  readonly recorder = new LatencyRecorder();
  readonly errors = zeroErrors();
  readonly samples: ErrorSample[] = [];
  measuring = false;
  stopped = false;
  measured = 0;
  bytes = 0;
  measureStart = 0;
  measureEnd = 0;
  /** When the run stopped (the window's end, or Ctrl-C), performance.now() ms. */
  stoppedAt = 0;

  constructor(readonly options: BenchOptions) {}

  error(kind: ErrorKind, connection: number, message: string, seq?: number, diff?: ErrorSample['difference']): void {
    this.errors[kind]++;
    if (this.samples.length < KEPT_SAMPLES)
      this.samples.push({
        kind,
        connection,
        message,
        ...(seq !== undefined ? { seq } : {}),
        ...(diff !== undefined ? { difference: diff } : {}),
      });
  }

  /** One exchange done and verified, `startedNs` its send time. */
  done(startedNs: bigint, size: number): void {
    if (!this.measuring) return;
    this.recorder.record(Math.max(1, Math.round(Number(process.hrtime.bigint() - startedNs) / 1000)));
    this.measured++;
    this.bytes += size;
    if (this.options.count !== null && this.measured >= this.options.count) this.stop();
  }

  stop(): void {
    if (this.stopped) return;
    this.stoppedAt = performance.now();
    if (this.measuring) this.measureEnd = this.stoppedAt;
    this.measuring = false;
    this.stopped = true;
  }
}

/** One kept-alive HTTP connection: a request, its echo checked, the next. */
async function httpLoop(run: Run, target: WebTarget, agent: WebAgent, connection: number): Promise<void> {
  const { size, timeoutMs } = run.options;
  const path = `${target.path.split('?')[0] ?? '/'}?format=raw`;
  let answered = false;
  for (let seq = 0; !run.stopped; seq++) {
    const body = payload(connection, seq, size);
    const started = process.hrtime.bigint();
    try {
      const response = await webRequest(target, agent, 'POST', path, body, timeoutMs, { 'content-type': 'application/octet-stream' });
      if (response.status !== 200) {
        run.error('other', connection, `answered ${response.status}`, seq);
        continue;
      }
      const diff = difference(body, response.body);
      if (diff !== null) {
        run.error(response.body.length < body.length ? 'truncated' : 'mismatch', connection, diff.summary, seq, diff);
        continue;
      }
      run.done(started, size);
      answered = true;
    } catch (err) {
      if (run.stopped) return;
      const error = err as NodeJS.ErrnoException;
      const notHttp = notHttpReason(error, target);
      run.error(classify(error, false), connection, notHttp ?? describeError(error), seq);
      // Before any answer, every request on this connection would fail the same way: one error
      // each, not one per turn. After one, only a refused connect ends it (as it always has): a
      // timeout may pass, and is counted each time.
      if (error.code === 'ECONNREFUSED' || (!answered && (notHttp !== null || stopReason(error) !== null))) return;
    }
  }
}

/** One WebSocket: `depth` binary messages in flight, each echo checked in order as it comes. */
async function wsLoop(run: Run, target: WebTarget, connection: number, sockets: WebSocket[]): Promise<void> {
  const { size, depth, timeoutMs } = run.options;
  let ws: WebSocket;
  try {
    ws = await openWebSocket(target, timeoutMs);
  } catch (err) {
    const error = err as NodeJS.ErrnoException;
    run.error('connect', connection, notHttpReason(error, target) ?? describeError(error));
    return;
  }
  sockets.push(ws);
  const inFlight: { body: Buffer; seq: number; started: bigint }[] = [];
  let seq = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    if (inFlight.length > 0)
      timer = setTimeout(() => {
        run.error('timeout', connection, `no echo within ${timeoutMs} ms`, inFlight[0]?.seq);
        ws.terminate();
      }, timeoutMs);
  };
  const send = (): void => {
    const body = payload(connection, seq, size);
    inFlight.push({ body, seq, started: process.hrtime.bigint() });
    seq++;
    ws.send(body, { binary: true });
  };
  await new Promise<void>((resolve) => {
    ws.on('message', (data: Buffer, binary: boolean) => {
      const expected = inFlight.shift();
      if (expected === undefined) {
        run.error('extra', connection, `a ${data.length}-byte message nobody sent`);
        return;
      }
      const diff = difference(expected.body, data);
      if (diff !== null) run.error('mismatch', connection, diff.summary, expected.seq, diff);
      else if (!binary) run.error('mismatch', connection, 'a binary message came back as text', expected.seq);
      else run.done(expected.started, size);
      if (run.stopped) {
        if (inFlight.length === 0) ws.close(1000);
      } else send();
      arm();
    });
    ws.on('error', (err: NodeJS.ErrnoException) => {
      if (!run.stopped) run.error(classify(err, false), connection, describeError(err));
    });
    ws.on('close', (code: number) => {
      clearTimeout(timer);
      if (!run.stopped && code !== 1000) run.error('reset', connection, `closed by the server (${code})`);
      resolve();
    });
    for (let i = 0; i < depth; i++) send();
    arm();
  });
}

export async function webBench(
  options: BenchOptions,
  target: WebTarget,
  io: ToolIo,
  interrupted: () => boolean,
  onStop: (stop: () => void) => void,
): Promise<WebBenchResult> {
  const run = new Run(options);
  const http = target.scheme === 'http' || target.scheme === 'https';
  const out = options.json ? null : io.stdout;
  const what =
    options.count !== null ? `${count(options.count)} ${http ? 'requests' : 'messages'}` : `${(options.durationMs ?? 0) / 1000} s`;
  out?.write(
    `echod bench ${formatWebTarget(target)}: ${webTransportName(target)}, ${options.connections} connection${options.connections === 1 ? '' : 's'}${http ? '' : ` × ${options.depth} in flight`}, ${count(options.size)} B ${http ? 'bodies (POST ?format=raw)' : 'binary messages'}\n  ${options.warmupMs > 0 ? `${options.warmupMs / 1000} s warm-up, then ` : ''}measuring ${what}\n`,
  );
  let durationTimer: NodeJS.Timeout | undefined;
  const total = totalHistogram();
  const log =
    options.histogramFile === null
      ? null
      : new HistogramLog(Date.now(), [
          `echod bench ${formatWebTarget(target)}: ${options.connections} connections, ${options.size} B`,
          'values in microseconds (Interval_Max in milliseconds)',
        ]);
  let intervalStart = 0;
  /** The interval since the last one, into the total and the log. */
  const roll = (): void => {
    const now = Date.now();
    const interval = run.recorder.take();
    total.add(interval);
    log?.add(interval, intervalStart, now);
    intervalStart = now;
  };
  let ticker: NodeJS.Timeout | undefined;
  const startMeasuring = (): void => {
    if (run.stopped) return;
    run.recorder.take(); // the warm-up's latencies go
    run.measuring = true;
    run.measureStart = performance.now();
    intervalStart = Date.now();
    ticker = setInterval(roll, INTERVAL_MS);
    if (options.durationMs !== null) durationTimer = setTimeout(() => run.stop(), options.durationMs);
  };
  const runStart = performance.now();
  const warmup = options.warmupMs > 0 ? setTimeout(startMeasuring, options.warmupMs) : undefined;
  if (warmup === undefined) startMeasuring();
  onStop(() => {
    clearTimeout(warmup);
    run.stop();
  });
  const agents: WebAgent[] = [];
  const sockets: WebSocket[] = [];
  const loops: Promise<void>[] = [];
  for (let connection = 0; connection < options.connections; connection++) {
    if (http) {
      const agent = webAgent(target, 1);
      agents.push(agent);
      loops.push(httpLoop(run, target, agent, connection));
    } else loops.push(wsLoop(run, target, connection, sockets));
  }
  // Every loop ends by itself once the run stops (or its connection fails for good).
  await Promise.all(loops);
  clearTimeout(warmup);
  clearTimeout(durationTimer);
  clearInterval(ticker);
  run.stop();
  for (const agent of agents) agent.destroy();
  for (const ws of sockets) ws.terminate();
  if (intervalStart !== 0) roll(); // the rest of the window (nothing is recorded after the stop)
  let histogramError: string | null = null;
  if (log !== null && options.histogramFile !== null) {
    try {
      log.write(options.histogramFile);
    } catch (err) {
      histogramError = `cannot write ${options.histogramFile}: ${fileErrorReason(err)}`;
      io.stderr.write(`echod bench: ${histogramError}\n`);
    }
  }
  const elapsedS = run.measureStart === 0 ? 0 : (run.measureEnd - run.measureStart) / 1000;
  const failures = ERROR_KINDS.reduce((sum, kind) => sum + run.errors[kind], 0);
  return {
    ok: failures === 0 && run.measured > 0 && histogramError === null,
    target: formatWebTarget(target),
    transport: target.scheme,
    unit: http ? 'requests' : 'messages',
    connections: options.connections,
    depth: http ? 1 : options.depth,
    size: options.size,
    warmupS: options.warmupMs / 1000,
    warmupRanS: Math.round(((run.measureStart > 0 ? run.measureStart : run.stoppedAt) - runStart) / 10) / 100,
    durationS: options.durationMs === null ? null : options.durationMs / 1000,
    count: options.count,
    elapsedS,
    msgs: run.measured,
    msgsPerSec: elapsedS > 0 ? run.measured / elapsedS : 0,
    mbPerSec: elapsedS > 0 ? run.bytes / elapsedS / 1e6 : 0,
    latencyUs: summarize(total),
    errors: run.errors,
    failures,
    errorSamples: run.samples,
    interrupted: interrupted(),
  };
}

export function webSummary(result: WebBenchResult): string {
  const perSecond = result.unit === 'requests' ? 'requests/s' : 'msgs/s';
  const lines = [
    '',
    `  measured    ${measuredWindow(result)}: ${plural(result.msgs, result.unit.slice(0, -1), result.unit)} echoed and checked`,
    '',
    `  ${perSecond.padStart(11)} ${'MB/s'.padStart(8)}`,
    `  ${count(result.msgsPerSec).padStart(11)} ${result.mbPerSec.toFixed(2).padStart(8)}`,
    '',
    ...latencyTable(result.latencyUs).map((line, index) =>
      index === 0
        ? line.replace(
            /message(s?), from send to the last byte of the echo/,
            `${result.unit === 'requests' ? 'request$1, from the request sent to its whole response' : 'message$1, from send to the whole echo'}`,
          )
        : line,
    ),
    '',
  ];
  const kinds = ERROR_KINDS.filter((kind) => result.errors[kind] > 0);
  lines.push(
    kinds.length === 0 ? '  errors      none' : `  errors      ${kinds.map((kind) => `${kind} ${count(result.errors[kind])}`).join(', ')}`,
  );
  for (const sample of result.errorSamples.slice(0, kinds.length === 0 ? 0 : PRINTED_SAMPLES))
    lines.push(`    ${sample.kind.padEnd(11)} ${sample.message}`);
  const verdict = result.ok
    ? 'OK: every echoed byte matched'
    : result.failures > 0
      ? `FAIL: ${plural(result.failures, 'error')}`
      : `FAIL: no ${result.unit === 'requests' ? 'request' : 'message'} was echoed`;
  lines.push(`  verdict     ${verdict}`);
  return lines.join('\n');
}
