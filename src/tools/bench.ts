/**
 * `echod bench [host:port]`: load an echo server and measure it, checking every byte it echoes.
 *
 * Closed loop by default: each connection keeps `--depth` messages in flight and sends the next
 * as soon as one comes back. With `--rate`, open loop: messages leave on a fixed schedule and
 * each latency runs from the message's intended send time, so a stalled server is charged for
 * every message it delayed (coordinated omission corrected, as wrk2 does).
 *
 * The work runs in {@link Engine}s (bench-engine.ts): one in this thread, or one per worker with
 * `--threads`. This file parses flags, starts the engines, asks each for an interval every
 * second (the live line and the `--histogram` log), and adds their reports into the summary.
 */
import { DIGEST_ALGORITHMS, type DigestKind } from './digest.js';
import { writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { UsageError } from '../core/errors.js';
import { formatBytes } from '../core/units.js';
import {
  ConnectError,
  Engine,
  type EngineReport,
  type EngineSpec,
  ERROR_KINDS,
  ERROR_MEANINGS,
  type ErrorCounts,
  type ErrorSample,
  type IntervalReport,
  minimumSize,
  NON_FATAL_KINDS,
  zeroErrors,
} from './bench-engine.js';
import type { MainMessage, WireInterval, WorkerMessage } from './bench-worker.js';
import { flagRows, HELP_ROW, parseToolArgs, type ToolFlagSpec, type ToolValue } from './flags.js';
import { count, megabytesPerSecond, micros } from './format.js';
import { decodeHistogram, type Histogram, HistogramLog, type LatencySummary, summarize, totalHistogram } from './histogram.js';
import { EXIT_FAILURE, EXIT_OK, processIo, type ToolIo, usageError, wantsLiveLine } from './io.js';
import type { PayloadMode } from './payload.js';
import { formatTarget, parseTarget, resolveTarget, type Target, TRANSPORT_FLAGS, transportFromFlags, transportName, type TransportSpec } from './target.js';

export type { ToolIo } from './io.js';

const DEFAULTS = {
  connections: 50,
  depth: 1,
  size: 64,
  durationMs: 5000,
  warmupMs: 1000,
  timeoutMs: 5000,
  threads: 1,
} as const;

const MAX_CONNECTIONS = 100_000;
const MAX_DEPTH = 65_536;
const MAX_THREADS = 64;
/** Every connection holds depth × size bytes of messages; more than this in all is a mistake. */
const MAX_RING_BYTES = 1024 ** 3;
/** The largest UDP payload over IPv4. */
const MAX_DATAGRAM = 65_507;
/** Errors described in the table (the JSON has all the engine kept). */
const PRINTED_SAMPLES = 3;
/** The live line and the `--histogram` log have one interval per second. */
const TICK_MS = 1000;

export const BENCH_FLAGS: readonly ToolFlagSpec[] = [
  { name: 'connections', short: 'c', kind: { integer: { min: 1, max: MAX_CONNECTIONS } }, arg: 'N', description: 'connections (UDP: sockets) kept busy at once', shown: String(DEFAULTS.connections) },
  { name: 'depth', short: 'd', kind: { integer: { min: 1, max: MAX_DEPTH } }, arg: 'N', description: 'messages in flight per connection; above 1 the messages are pipelined', shown: String(DEFAULTS.depth) },
  { name: 'size', short: 's', kind: 'size', arg: 'SIZE', description: 'bytes per message, its newline included', shown: String(DEFAULTS.size) },
  { name: 'duration', short: 't', kind: 'seconds', arg: 'DURATION', description: 'how long to measure, after the warm-up', shown: '5s; none with --count' },
  { name: 'count', short: 'n', kind: { integer: { min: 1, max: Number.MAX_SAFE_INTEGER } }, arg: 'N', description: 'measure exactly N messages, then stop (with --duration: whichever comes first)' },
  { name: 'warmup', short: 'w', kind: 'seconds', arg: 'DURATION', description: 'load this long first without measuring (JIT, caches, TCP windows); 0 for none', shown: '1s' },
  { name: 'mode', kind: { oneOf: ['line', 'raw'] }, arg: 'MODE', description: 'line: printable lines, newline-terminated; raw: messages of every byte value, no framing (RFC 862 servers)', shown: 'line' },
  { name: 'rate', short: 'r', kind: 'rate', arg: 'N/s', description: "open loop: N messages per second in all, on a fixed schedule; latency counts from each message's intended send time (coordinated omission corrected, like wrk2); --depth caps what is in flight per connection" },
  { name: 'threads', kind: { integer: { min: 1, max: MAX_THREADS } }, arg: 'N', description: 'worker threads sharing the connections, so the client is not the bottleneck; 1 runs in the main thread', shown: String(DEFAULTS.threads) },
  { name: 'timeout', kind: 'seconds', arg: 'DURATION', description: 'no echo (or no connect) for this long on a connection with messages outstanding counts a timeout and reconnects; UDP: the datagram counts as lost', shown: '5s' },
  ...TRANSPORT_FLAGS,
  { name: 'json', kind: 'boolean', arg: '', description: 'print the summary as one JSON object (no table, no live line)' },
  { name: 'digest', kind: { oneOf: ['none', ...DIGEST_ALGORITHMS] }, arg: 'KIND', description: "crc32c or sha256: print each connection's digest of the bytes sent and received, to compare with echod --digest (costs client CPU)", shown: 'none' },
  { name: 'histogram', kind: 'string', arg: 'FILE', description: 'write the latency histograms (µs), one per second of the measured window, to FILE in HdrHistogram log format' },
];

export function benchHelp(): string {
  return [
    'echod bench - load an echo server, check every byte it echoes, and measure throughput and latency.',
    '',
    'Usage: echod bench [flags] [host:port]      (default 127.0.0.1:8080; a bare number is a port)',
    '',
    'Each message is unique (a sequence number, the connection id, a filler) and every echoed byte',
    'is compared with the byte sent. Errors are counted by kind; any of them (except UDP loss) makes',
    'the exit code 1. Exit codes: 0 all echoes matched, 1 errors or nothing echoed, 2 bad command line.',
    '',
    'Flags:',
    ...flagRows(BENCH_FLAGS),
    HELP_ROW,
    '',
    'Sizes: 64, 1500, 64KiB, 1MiB. Durations: 10 (seconds), 500ms, 10s, 1m.',
    '',
    'Output: on a terminal a live line (messages/s and p99 of the last second); at the end a summary:',
    'messages measured, msgs/s, MB/s (message bytes one way, 10^6 bytes), latency p50 p90 p99 p99.9',
    'max from send to the last byte of the echo, and errors by kind:',
    ...ERROR_KINDS.map((kind) => `  ${kind.padEnd(12)}${ERROR_MEANINGS[kind]}`),
    '',
    'Examples:',
    '  echod bench                                    50 connections, 1 in flight, 64 B, 5 s',
    '  echod bench -c 10 -d 32 -s 16KiB 127.0.0.1:7000  pipelined bulk',
    '  echod bench --rate 20k/s --duration 30 --histogram lat.hlog',
    '  echod bench --count 100000 --json --threads 2',
    '  echod bench --udp --mode raw 127.0.0.1:9000',
  ].join('\n');
}

/** Everything a run needs, resolved from the command line. */
export interface BenchOptions {
  target: { host: string; port: number };
  transport: TransportSpec;
  mode: PayloadMode;
  connections: number;
  depth: number;
  size: number;
  durationMs: number | null;
  count: number | null;
  warmupMs: number;
  rate: number | null;
  threads: number;
  timeoutMs: number;
  json: boolean;
  histogramFile: string | null;
  digest: DigestKind;
}

export function resolveBenchOptions(values: ReadonlyMap<string, ToolValue>, positionals: readonly string[]): BenchOptions {
  if (positionals.length > 1) throw new UsageError(`one target expected, got ${positionals.length}: ${positionals.join(' ')}`);
  const get = <T extends ToolValue>(name: string): T | undefined => values.get(name) as T | undefined;
  const transport = transportFromFlags(values);
  const mode = get<PayloadMode>('mode') ?? 'line';
  const connections = get<number>('connections') ?? DEFAULTS.connections;
  const depth = get<number>('depth') ?? DEFAULTS.depth;
  const size = get<number>('size') ?? DEFAULTS.size;
  const countLimit = get<number>('count') ?? null;
  const duration = get<number>('duration');
  const threads = get<number>('threads') ?? DEFAULTS.threads;
  const timeoutMs = get<number>('timeout') ?? DEFAULTS.timeoutMs;
  const min = minimumSize(transport.kind, mode);
  if (size < min) throw new UsageError(`invalid --size: ${size} (expected at least ${min}${transport.kind === 'udp' ? ' with --udp: datagrams are matched by their 12-digit sequence number' : ''})`);
  if (transport.kind === 'udp' && size > MAX_DATAGRAM) throw new UsageError(`invalid --size: ${size} (a UDP datagram holds at most ${MAX_DATAGRAM} bytes)`);
  if (connections * depth * size > MAX_RING_BYTES) {
    throw new UsageError(`--connections × --depth × --size is ${formatBytes(connections * depth * size)} of messages in flight; at most ${formatBytes(MAX_RING_BYTES)}`);
  }
  if (duration === 0) throw new UsageError('invalid --duration: 0 (expected a duration above 0)');
  if (timeoutMs === 0) throw new UsageError('invalid --timeout: 0 (expected a duration above 0)');
  if (threads > connections) throw new UsageError(`--threads ${threads} is more than --connections ${connections}`);
  return {
    target: parseTarget(positionals[0]),
    transport,
    mode,
    connections,
    depth,
    size,
    durationMs: duration ?? (countLimit !== null ? null : DEFAULTS.durationMs),
    count: countLimit,
    warmupMs: get<number>('warmup') ?? DEFAULTS.warmupMs,
    rate: get<number>('rate') ?? null,
    threads,
    timeoutMs,
    json: get<boolean>('json') === true,
    histogramFile: get<string>('histogram') ?? null,
    digest: (get<string>('digest') ?? 'none') as DigestKind,
  };
}

/** The summary, as `--json` prints it. Latencies in µs. */
export interface BenchResult {
  ok: boolean;
  target: string;
  transport: 'tcp' | 'tls' | 'udp';
  mode: PayloadMode;
  loop: 'closed' | 'open';
  connections: number;
  depth: number;
  size: number;
  threads: number;
  warmupS: number;
  /** As asked: null when the run was bounded by --count only. */
  durationS: number | null;
  count: number | null;
  rate: number | null;
  /** The measured window. */
  elapsedS: number;
  /** Messages echoed, checked and timed in the measured window (`latencyUs.count` is the same). */
  msgs: number;
  bytes: number;
  msgsPerSec: number;
  mbPerSec: number;
  latencyUs: LatencySummary;
  errors: ErrorCounts;
  /** Errors that fail the run (every kind but UDP's `lost`). */
  failures: number;
  errorSamples: ErrorSample[];
  sent: number;
  drained: number;
  reconnects: number;
  stalled: boolean;
  /** Ctrl-C ended the measured window early. */
  interrupted: boolean;
  /** Open loop: how far behind its schedule the client fell at worst, ms. */
  maxSendLagMs: number | null;
  /** With --digest: the algorithm, and each connection's digests in hex. */
  digestAlgorithm?: Exclude<DigestKind, 'none'>;
  digests?: EngineReport['digests'];
  /** Why the run could not start (cannot connect): then nothing else is meaningful. */
  error?: string;
}

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

/** Shares connections, `--count` and `--rate` among the threads; connection ids stay unique. */
function split(options: BenchOptions, target: Target): EngineSpec[] {
  const specs: EngineSpec[] = [];
  let firstConnId = 0;
  for (let i = 0; i < options.threads; i++) {
    const connections = share(options.connections, options.threads, i);
    specs.push({
      target,
      transport: options.transport,
      mode: options.mode,
      firstConnId,
      connections,
      depth: options.depth,
      size: options.size,
      warmupMs: options.warmupMs,
      durationMs: options.durationMs,
      count: options.count === null ? null : share(options.count, options.threads, i),
      rate: options.rate === null ? null : (options.rate * connections) / options.connections,
      timeoutMs: options.timeoutMs,
      digest: options.digest,
    });
    firstConnId += connections;
  }
  return specs;
}

function share(total: number, parts: number, index: number): number {
  return Math.floor(total / parts) + (index < total % parts ? 1 : 0);
}

/** One engine, in this thread or in a worker. */
interface Runner {
  /** Resolves once every connection is open; rejects with why not. */
  readonly ready: Promise<void>;
  /** Intervals the engine closes on its own (phase changes). */
  onInterval: (interval: IntervalReport) => void;
  start(): Promise<EngineReport>;
  roll(): Promise<IntervalReport | null>;
  /** Ends the measured window now. */
  stop(): void;
  dispose(): Promise<void>;
}

class InlineRunner implements Runner {
  readonly ready: Promise<void>;
  onInterval: (interval: IntervalReport) => void = () => {};
  private readonly engine: Engine;

  constructor(spec: EngineSpec) {
    this.engine = new Engine(spec, (interval) => this.onInterval(interval));
    this.ready = this.engine.connect();
  }

  start(): Promise<EngineReport> {
    return this.engine.run();
  }

  roll(): Promise<IntervalReport | null> {
    return Promise.resolve(this.engine.roll());
  }

  stop(): void {
    this.engine.stop();
  }

  dispose(): Promise<void> {
    return Promise.resolve();
  }
}

/** The worker's module: compiled JavaScript next to this file, or TypeScript when run from source (tests, tsx). */
const WORKER_URL = new URL(`./bench-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

function startWorker(spec: EngineSpec): Worker {
  if (!WORKER_URL.pathname.endsWith('.ts')) return new Worker(WORKER_URL, { workerData: spec });
  // From source, under tsx: a worker does not inherit the loader hooks, so it registers tsx's first.
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(code, { eval: true, workerData: spec });
}

class WorkerRunner implements Runner {
  readonly ready: Promise<void>;
  onInterval: (interval: IntervalReport) => void = () => {};
  private readonly worker: Worker;
  private readonly rolls = new Map<number, (interval: IntervalReport | null) => void>();
  private nextRoll = 0;
  private done: ((report: EngineReport) => void) | null = null;
  private failed: ((err: Error) => void) | null = null;
  private exited = false;

  constructor(spec: EngineSpec) {
    this.worker = startWorker(spec);
    this.ready = new Promise((resolve, reject) => {
      this.failed = reject;
      this.worker.on('message', (message: WorkerMessage) => {
        switch (message.type) {
          case 'ready':
            resolve();
            break;
          case 'failed':
            reject(new ConnectError(message.message));
            break;
          case 'interval':
            this.onInterval(fromWire(message.interval));
            break;
          case 'rolled':
            this.rolls.get(message.id)?.(message.interval === null ? null : fromWire(message.interval));
            this.rolls.delete(message.id);
            break;
          case 'done':
            this.done?.(message.report);
            break;
        }
      });
    });
    this.worker.on('error', (err) => this.failed?.(err));
    this.worker.on('exit', () => {
      this.exited = true;
      for (const resolve of this.rolls.values()) resolve(null);
      this.rolls.clear();
    });
  }

  start(): Promise<EngineReport> {
    return new Promise((resolve, reject) => {
      this.done = resolve;
      this.failed = reject;
      this.post({ type: 'start' });
    });
  }

  roll(): Promise<IntervalReport | null> {
    if (this.exited) return Promise.resolve(null);
    const id = this.nextRoll++;
    return new Promise((resolve) => {
      this.rolls.set(id, resolve);
      this.post({ type: 'roll', id });
    });
  }

  stop(): void {
    if (!this.exited) this.post({ type: 'stop' });
  }

  private post(message: MainMessage): void {
    this.worker.postMessage(message);
  }

  async dispose(): Promise<void> {
    if (!this.exited) await this.worker.terminate();
  }
}

function fromWire(interval: WireInterval): IntervalReport {
  return { ...interval, histogram: decodeHistogram(interval.histogram) };
}

/** Adds the engines' intervals up: the run's histogram, the live line, the `--histogram` log. */
class Totals {
  readonly total: Histogram = totalHistogram();
  readonly log: HistogramLog;
  private readonly options: BenchOptions;
  /** Since the last tick. */
  private messages = 0;
  private spanStart = Number.POSITIVE_INFINITY;
  private spanEnd = 0;
  private phase: IntervalReport['phase'] = 'warmup';
  private tickHistogram: Histogram = totalHistogram();
  private readonly errors = new Map<number, ErrorCounts>();
  private readonly open = new Map<number, number>();
  /** Measured intervals not yet written to the log, and their span. */
  private pending: Histogram = totalHistogram();
  private pendingStart = Number.POSITIVE_INFINITY;
  private pendingEnd = 0;

  constructor(options: BenchOptions) {
    this.options = options;
    this.log = new HistogramLog(Date.now(), [`echod bench ${formatTarget(options.target)}: ${describeLoad(options)}`, 'values in microseconds (Interval_Max in milliseconds)']);
  }

  /** One interval of engine `engine`; `ticked`: asked for by the ticker (else handed in at a phase change). */
  add(engine: number, interval: IntervalReport, ticked: boolean): void {
    // Errors and open connections are each engine's latest cumulative figures.
    this.errors.set(engine, interval.errors);
    this.open.set(engine, interval.open);
    this.messages += interval.messages;
    this.spanStart = Math.min(this.spanStart, interval.startMs);
    this.spanEnd = Math.max(this.spanEnd, interval.endMs);
    if (ticked) this.phase = interval.phase;
    if (interval.phase !== 'measure') return;
    this.total.add(interval.histogram);
    this.tickHistogram.add(interval.histogram);
    this.pending.add(interval.histogram);
    this.pendingStart = Math.min(this.pendingStart, interval.startMs);
    this.pendingEnd = Math.max(this.pendingEnd, interval.endMs);
  }

  /** Ends a second: writes its log line and returns the live line. */
  tick(startedAt: number): string | null {
    this.flushLog();
    const seconds = (this.spanEnd - this.spanStart) / 1000;
    if (!(seconds > 0)) return null;
    const rate = this.messages / seconds;
    const p99 = this.tickHistogram.totalCount > 0 ? micros(this.tickHistogram.getValueAtPercentile(99)) : '-';
    let errors = 0;
    for (const counts of this.errors.values()) for (const kind of ERROR_KINDS) errors += counts[kind];
    let open = 0;
    for (const n of this.open.values()) open += n;
    const elapsed = Math.round((Date.now() - startedAt) / 1000);
    const line = `  ${String(elapsed).padStart(4)}s  ${this.phase === 'warmup' ? 'warm-up  ' : 'measuring'}  ${count(rate).padStart(9)} msg/s  ${megabytesPerSecond(rate * this.options.size).padStart(11)}  p99 ${p99.padStart(7)}  errors ${count(errors)}  open ${count(open)}`;
    this.messages = 0;
    this.spanStart = Number.POSITIVE_INFINITY;
    this.spanEnd = 0;
    this.tickHistogram = totalHistogram();
    return line;
  }

  flushLog(): void {
    if (this.pending.totalCount === 0) return;
    this.log.add(this.pending, this.pendingStart, this.pendingEnd);
    this.pending = totalHistogram();
    this.pendingStart = Number.POSITIVE_INFINITY;
    this.pendingEnd = 0;
  }
}

function combine(options: BenchOptions, reports: readonly EngineReport[], total: Histogram): BenchResult {
  const errors = zeroErrors();
  const samples: ErrorSample[] = [];
  let msgs = 0;
  let sent = 0;
  let drained = 0;
  let reconnects = 0;
  let stalled = false;
  let maxSendLagMs = 0;
  let start = Number.POSITIVE_INFINITY;
  let end = 0;
  for (const report of reports) {
    for (const kind of ERROR_KINDS) errors[kind] += report.errors[kind];
    samples.push(...report.samples);
    msgs += report.msgs;
    sent += report.sent;
    drained += report.drained;
    reconnects += report.reconnects;
    stalled ||= report.stalled;
    maxSendLagMs = Math.max(maxSendLagMs, report.maxSendLagMs);
    start = Math.min(start, report.measureStartMs);
    end = Math.max(end, report.measureEndMs);
  }
  const elapsedS = end > start ? (end - start) / 1000 : 0;
  const failures = ERROR_KINDS.filter((kind) => !NON_FATAL_KINDS.has(kind)).reduce((sum, kind) => sum + errors[kind], 0);
  const msgsPerSec = elapsedS > 0 ? msgs / elapsedS : 0;
  const result: BenchResult = {
    ok: failures === 0 && msgs > 0 && !stalled,
    target: formatTarget(options.target),
    transport: options.transport.kind,
    mode: options.mode,
    loop: options.rate === null ? 'closed' : 'open',
    connections: options.connections,
    depth: options.depth,
    size: options.size,
    threads: options.threads,
    warmupS: options.warmupMs / 1000,
    durationS: options.durationMs === null ? null : options.durationMs / 1000,
    count: options.count,
    rate: options.rate,
    elapsedS: round(elapsedS, 6),
    msgs,
    bytes: msgs * options.size,
    msgsPerSec: Math.round(msgsPerSec),
    mbPerSec: round((msgsPerSec * options.size) / 1e6, 2),
    latencyUs: summarize(total),
    errors,
    failures,
    errorSamples: samples,
    sent,
    drained,
    reconnects,
    stalled,
    interrupted: false,
    maxSendLagMs: options.rate === null ? null : round(maxSendLagMs, 1),
  };
  const digests = reports.flatMap((report) => report.digests ?? []);
  if (options.digest !== 'none') {
    result.digestAlgorithm = options.digest;
    result.digests = digests;
  }
  return result;
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

function describeLoad(options: BenchOptions): string {
  const transport = transportName(options.transport);
  const unit = options.transport.kind === 'udp' ? 'socket' : 'connection';
  const loop = options.rate === null ? 'closed loop' : `open loop at ${count(options.rate)} msg/s`;
  return `${transport}, ${options.mode} mode, ${count(options.connections)} ${unit}${options.connections === 1 ? '' : 's'} × ${count(options.depth)} in flight, ${count(options.size)}-byte messages, ${loop}, ${options.threads} thread${options.threads === 1 ? '' : 's'}`;
}

function header(options: BenchOptions): string {
  const what = options.count !== null ? `${count(options.count)} messages${options.durationMs !== null ? ` or ${options.durationMs / 1000} s` : ''}` : `${(options.durationMs ?? 0) / 1000} s`;
  const warmup = options.warmupMs > 0 ? `${options.warmupMs / 1000} s warm-up, then ` : '';
  return `echod bench ${formatTarget(options.target)}: ${describeLoad(options)}\n  ${warmup}measuring ${what}`;
}

/** The human summary: a short table, the errors by kind with the first few described, a verdict. */
export function summary(result: BenchResult): string {
  const lat = result.latencyUs;
  const lines = [
    '',
    `  measured    ${result.elapsedS.toFixed(2)} s${result.interrupted ? ' (interrupted)' : ''}${result.warmupS > 0 ? ` after ${result.warmupS} s warm-up` : ''}: ${count(result.msgs)} messages echoed and checked (${count(result.sent)} sent${result.drained > 0 ? `, ${count(result.drained)} more checked after the window` : ''})`,
    '',
    `  ${'msgs/s'.padStart(11)} ${'MB/s'.padStart(8)} ${'p50'.padStart(8)} ${'p90'.padStart(8)} ${'p99'.padStart(8)} ${'p99.9'.padStart(8)} ${'max'.padStart(8)}`,
    `  ${count(result.msgsPerSec).padStart(11)} ${result.mbPerSec.toFixed(2).padStart(8)} ${micros(lat.p50).padStart(8)} ${micros(lat.p90).padStart(8)} ${micros(lat.p99).padStart(8)} ${micros(lat.p999).padStart(8)} ${micros(lat.max).padStart(8)}`,
    '',
  ];
  if (result.loop === 'open' && result.maxSendLagMs !== null) {
    lines.push(`  schedule    latency counted from intended send times; the client ran up to ${result.maxSendLagMs} ms behind schedule`);
  }
  const kinds = ERROR_KINDS.filter((kind) => result.errors[kind] > 0);
  if (kinds.length === 0) {
    lines.push('  errors      none');
  } else {
    lines.push(`  errors      ${kinds.map((kind) => `${kind} ${count(result.errors[kind])}`).join(', ')}`);
    for (const sample of result.errorSamples.slice(0, PRINTED_SAMPLES)) {
      lines.push(`    ${sample.kind.padEnd(11)} ${sample.message}`);
      if (sample.difference !== undefined) {
        lines.push(`                expected ${sample.difference.expected}`);
        lines.push(`                got      ${sample.difference.got}`);
      }
    }
  }
  if (result.digests !== undefined && result.digestAlgorithm !== undefined) {
    lines.push(`  ${result.digestAlgorithm.padEnd(11)} per connection, sent / received (the server's close lines have them crossed: its received is our sent):`);
    for (const digest of result.digests) lines.push(`    conn ${String(digest.connection).padStart(5)}  ${digest.sent} / ${digest.received}`);
  }
  if (result.errors.lost > 0) {
    lines.push('    (UDP loss: the kernel drops datagrams when a receive buffer is full, and servers may rate-limit each source address — echod answers 1000/s per address unless --udp-rate-per-source says otherwise)');
  }
  if (result.errorSamples.length > PRINTED_SAMPLES) lines.push(`    (the first ${PRINTED_SAMPLES} described; --json has ${result.errorSamples.length})`);
  if (result.reconnects > 0) lines.push(`  reconnects  ${count(result.reconnects)}`);
  let verdict: string;
  if (result.ok) verdict = `OK: every echoed byte matched${result.errors.lost > 0 ? ` (${count(result.errors.lost)} datagrams lost)` : ''}`;
  else if (result.stalled) verdict = 'FAIL: the server stopped answering';
  else if (result.failures > 0) verdict = `FAIL: ${count(result.failures)} error(s)`;
  else verdict = 'FAIL: no message was echoed';
  lines.push(`  verdict     ${verdict}`);
  return lines.join('\n');
}
