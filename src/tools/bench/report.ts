/**
 * A bench run's result: the engines' reports added into one {@link BenchResult} (what `--json`
 * prints), and the same for people (the header and the summary table).
 */
import { count, micros, plural } from '../format.js';
import { formatTarget, transportName } from '../target.js';
import type { DigestKind } from '../digest.js';
import type { EngineReport } from './engine.js';
import { ERROR_KINDS, type ErrorCounts, type ErrorSample, NON_FATAL_KINDS, zeroErrors } from './errors.js';
import { type Histogram, type LatencySummary, summarize } from './histogram.js';
import type { BenchOptions } from './options.js';
import type { PayloadMode } from './payload.js';

/** Errors described in the table (the JSON has all the engine kept). */
export const PRINTED_SAMPLES = 3;

/**
 * What every bench result reports, stream or web: the load asked for and the measured window.
 * Latencies in µs.
 */
export interface MeasuredRun {
  ok: boolean;
  target: string;
  connections: number;
  depth: number;
  size: number;
  warmupS: number;
  /** The warm-up as it ran, s: less than `warmupS` when Ctrl-C cut it short. */
  warmupRanS: number;
  /** As asked: null when the run was bounded by --count only. */
  durationS: number | null;
  count: number | null;
  /** The measured window. */
  elapsedS: number;
  /** Messages (on http://, requests) echoed, checked and timed in the measured window (`latencyUs.count` is the same). */
  msgs: number;
  msgsPerSec: number;
  /** Payload bytes one way, 10^6 bytes per second. */
  mbPerSec: number;
  latencyUs: LatencySummary;
  errors: ErrorCounts;
  /** Errors that fail the run (every kind but UDP's `lost`). */
  failures: number;
  errorSamples: ErrorSample[];
  /** Ctrl-C ended the measured window early. */
  interrupted: boolean;
}

/** The summary of a stream or datagram run, as `--json` prints it. */
export interface BenchResult extends MeasuredRun {
  transport: 'tcp' | 'tls' | 'udp';
  mode: PayloadMode;
  loop: 'closed' | 'open';
  threads: number;
  rate: number | null;
  /** Connection-rate mode: new connections per second asked for, and echoes per connection; null otherwise. */
  connectRate: number | null;
  roundTrips: number | null;
  /** Connection-rate mode: connections that did their round trips and closed in the measured window (0 otherwise). */
  connects: number;
  connectsPerSec: number;
  bytes: number;
  sent: number;
  drained: number;
  reconnects: number;
  stalled: boolean;
  /** Open loop: how far behind its schedule the client fell at worst, ms. */
  maxSendLagMs: number | null;
  /** With --digest: the algorithm, and each connection's digests in hex. */
  digestAlgorithm?: Exclude<DigestKind, 'none'>;
  digests?: EngineReport['digests'];
  /** Why the run could not start (cannot connect): then nothing else is meaningful. */
  error?: string;
  /** UDP: how long a datagram went without an echo before it counted as lost, at the end of the run, ms. */
  lossDeadlineMs?: number;
  /**
   * UDP: the share of the run (warm-up, window and drain) that the sockets' `--depth` slots spent
   * waiting for datagrams that were then counted lost; near 1, loss is what the run measured.
   */
  lossWaitShare?: number;
}

export function combine(options: BenchOptions, reports: readonly EngineReport[], total: Histogram): BenchResult {
  const errors = zeroErrors();
  const samples: ErrorSample[] = [];
  let msgs = 0;
  let sent = 0;
  let drained = 0;
  let reconnects = 0;
  let stalled = false;
  let maxSendLagMs = 0;
  let connects = 0;
  let start = Number.POSITIVE_INFINITY;
  let end = 0;
  let runStart = Number.POSITIVE_INFINITY;
  for (const report of reports) {
    for (const kind of ERROR_KINDS) errors[kind] += report.errors[kind];
    samples.push(...report.samples);
    msgs += report.msgs;
    sent += report.sent;
    drained += report.drained;
    reconnects += report.reconnects;
    stalled ||= report.stalled;
    maxSendLagMs = Math.max(maxSendLagMs, report.maxSendLagMs);
    connects += report.connects;
    start = Math.min(start, report.measureStartMs);
    runStart = Math.min(runStart, report.runStartMs);
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
    warmupRanS: start > runStart && Number.isFinite(start) ? round((start - runStart) / 1000, 2) : 0,
    durationS: options.durationMs === null ? null : options.durationMs / 1000,
    count: options.count,
    rate: options.rate,
    connectRate: options.connectRate,
    roundTrips: options.connectRate === null ? null : options.roundTrips,
    connects,
    connectsPerSec: elapsedS > 0 ? Math.round(connects / elapsedS) : 0,
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
    maxSendLagMs: options.rate === null && options.connectRate === null ? null : round(maxSendLagMs, 1),
  };
  const deadlines = reports.flatMap((report) => (report.lossDeadlineMs !== undefined ? [report.lossDeadlineMs] : []));
  if (deadlines.length > 0) {
    result.lossDeadlineMs = Math.max(...deadlines);
    const lostWaitMs = reports.reduce((sum, report) => sum + (report.lostWaitMs ?? 0), 0);
    const runMs = Math.max(...reports.map((report) => report.measureEndMs)) - Math.min(...reports.map((report) => report.runStartMs));
    const slotMs = options.connections * options.depth * runMs;
    result.lossWaitShare = slotMs > 0 ? round(Math.min(1, lostWaitMs / slotMs), 3) : 0;
  }
  const digests = reports.flatMap((report) => report.digests ?? []);
  if (options.digest !== 'none') {
    result.digestAlgorithm = options.digest;
    result.digests = digests;
  }
  return result;
}

/**
 * From this share of the run spent waiting for lost datagrams on, loss is what the run measured,
 * and the loss note names the likely cause (all of bench's sockets share one source address).
 */
export const LOSS_HINT_SHARE = 0.5;

/** What the UDP loss of a run says: how much was lost and after how long, and when most of the run went to it, why and what to change. */
export function lossNote(result: BenchResult): string {
  const deadline = result.lossDeadlineMs !== undefined ? `, each after ${count(result.lossDeadlineMs)} ms without an echo` : '';
  const what = `${count(result.errors.lost)} of ${count(result.sent)} datagrams lost${deadline}`;
  const share = result.lossWaitShare ?? 0;
  if (share >= LOSS_HINT_SHARE)
    return `(${what}, ${Math.round(share * 100)}% of the run waiting for them: the server may limit datagrams per source, e.g. echod's --udp-rate-per-source; start it with --udp-rate-per-source 0 to measure)`;
  return `(${what}: UDP drops datagrams when a receive buffer is full, or past a server's per-source limit)`;
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export function describeLoad(options: BenchOptions): string {
  const transport = transportName(options.transport);
  const unit = options.transport.kind === 'udp' ? 'socket' : 'connection';
  const loop = options.rate === null ? 'closed loop' : `open loop at ${count(options.rate)} msg/s`;
  if (options.connectRate !== null) {
    return `${transport}, ${options.mode} mode, ${count(options.connectRate)} new connections/s (at most ${count(options.connections)} open), each ${count(options.roundTrips)} echo${options.roundTrips === 1 ? '' : 'es'} × ${count(options.depth)} in flight, then closed, ${count(options.size)}-byte messages, ${options.threads} thread${options.threads === 1 ? '' : 's'}`;
  }
  return `${transport}, ${options.mode} mode, ${count(options.connections)} ${unit}${options.connections === 1 ? '' : 's'} × ${count(options.depth)} in flight, ${count(options.size)}-byte messages, ${loop}, ${options.threads} thread${options.threads === 1 ? '' : 's'}`;
}

export function header(options: BenchOptions): string {
  const what =
    options.count !== null
      ? `${count(options.count)} messages${options.durationMs !== null ? ` or ${options.durationMs / 1000} s` : ''}`
      : `${(options.durationMs ?? 0) / 1000} s`;
  const warmup = options.warmupMs > 0 ? `${options.warmupMs / 1000} s warm-up, then ` : '';
  return `echod bench ${formatTarget(options.target)}: ${describeLoad(options)}\n  ${warmup}measuring ${what}`;
}

/**
 * The measured window and what came before it, as it ran: "5.00 s after 1 s warm-up",
 * "1.20 s (interrupted) after 1 s warm-up", "0.00 s (interrupted 1.02 s into the 2 s warm-up)".
 */
export function measuredWindow(run: MeasuredRun): string {
  const elapsed = `${run.elapsedS.toFixed(2)} s`;
  // The warm-up's timer never fires early: a shorter warm-up is one that Ctrl-C cut.
  if (run.warmupS > 0 && run.warmupRanS + WARMUP_SLACK_S < run.warmupS)
    return `${elapsed} (interrupted ${run.warmupRanS.toFixed(2)} s into the ${run.warmupS} s warm-up)`;
  return `${elapsed}${run.interrupted ? ' (interrupted)' : ''}${run.warmupS > 0 ? ` after ${run.warmupS} s warm-up` : ''}`;
}

/** The rounding of `warmupRanS`. */
const WARMUP_SLACK_S = 0.01;

/** The latency rows of a percentile, as `wrk --latency` prints them. */
const LATENCY_ROWS: readonly [string, keyof LatencySummary][] = [
  ['50%', 'p50'],
  ['75%', 'p75'],
  ['90%', 'p90'],
  ['99%', 'p99'],
  ['99.9%', 'p999'],
  ['max', 'max'],
];

/** The latency distribution; "-" for every row when nothing was measured (no latency is not 0 µs). */
export function latencyTable(lat: LatencySummary): string[] {
  const rows = LATENCY_ROWS.map(([label, key]) => `  ${label.padStart(11)} ${(lat.count > 0 ? micros(lat[key]) : '-').padStart(8)}`);
  return [
    `  latency     distribution over ${count(lat.count)} message${lat.count === 1 ? '' : 's'}, from send to the last byte of the echo`,
    ...rows,
  ];
}

/** The human summary: a short table, the errors by kind with the first few described, a verdict. */
export function summary(result: BenchResult): string {
  const lat = result.latencyUs;
  const lines = [
    '',
    `  measured    ${measuredWindow(result)}: ${plural(result.msgs, 'message')} echoed and checked (${count(result.sent)} sent${result.drained > 0 ? `, ${count(result.drained)} more checked after the window` : ''})`,
    '',
    `  ${'msgs/s'.padStart(11)} ${'MB/s'.padStart(8)}`,
    `  ${count(result.msgsPerSec).padStart(11)} ${result.mbPerSec.toFixed(2).padStart(8)}`,
    '',
    ...latencyTable(lat),
    '',
  ];
  if (result.connectRate !== null) {
    lines.push(
      `  connections ${count(result.connects)} opened, echoed ${count(result.roundTrips ?? 0)} message${result.roundTrips === 1 ? '' : 's'} each and closed: ${count(result.connectsPerSec)}/s (asked ${count(result.connectRate)}/s)`,
    );
  }
  if (result.loop === 'open' && result.maxSendLagMs !== null) {
    lines.push(`  schedule    latency counted from intended send times; the client ran up to ${result.maxSendLagMs} ms behind schedule`);
  } else if (result.connectRate !== null && result.maxSendLagMs !== null && result.maxSendLagMs > 0) {
    lines.push(`  schedule    the client ran up to ${result.maxSendLagMs} ms behind its connect schedule`);
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
    lines.push(
      `  ${result.digestAlgorithm.padEnd(11)} per connection, sent / received (the server's close lines have them crossed: its received is our sent):`,
    );
    for (const digest of result.digests)
      lines.push(`    conn ${String(digest.connection).padStart(5)}  ${digest.sent} / ${digest.received}`);
  }
  if (result.errors.lost > 0) lines.push(`    ${lossNote(result)}`);
  if (result.errorSamples.length > PRINTED_SAMPLES)
    lines.push(`    (the first ${PRINTED_SAMPLES} described; --json has ${result.errorSamples.length})`);
  if (result.reconnects > 0) lines.push(`  reconnects  ${count(result.reconnects)}`);
  let verdict: string;
  if (result.ok)
    verdict = `OK: every echoed byte matched${result.errors.lost > 0 ? ` (${plural(result.errors.lost, 'datagram')} lost)` : ''}`;
  else if (result.stalled) verdict = 'FAIL: the server stopped answering';
  else if (result.failures > 0) verdict = `FAIL: ${plural(result.failures, 'error')}`;
  else if (result.interrupted && result.msgs === 0) verdict = 'FAIL: interrupted before anything was measured';
  else verdict = 'FAIL: no message was echoed';
  lines.push(`  verdict     ${verdict}`);
  return lines.join('\n');
}
