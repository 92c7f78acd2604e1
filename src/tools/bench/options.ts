/**
 * `echod bench`'s command line: the flag table (parsing and `--help` both derive from it), the
 * help text, and the options a run needs, resolved and checked once.
 */
import { UsageError } from '../../core/errors.js';
import { formatBytes } from '../../core/units.js';
import { DIGEST_ALGORITHMS, type DigestKind } from '../digest.js';
import { flagRows, HELP_ROW, type ToolFlagSpec, type ToolValue } from '../flags.js';
import { parseTarget, TRANSPORT_FLAGS, transportFromFlags, type TransportSpec } from '../target.js';
import { ERROR_KINDS, ERROR_MEANINGS } from './errors.js';
import type { PayloadMode } from './payload.js';
import { minimumSize } from './verify.js';
import { isWebTarget, webTargetFrom, type WebTarget } from '../web.js';

const DEFAULTS = {
  connections: 50,
  depth: 1,
  size: 64,
  durationMs: 5000,
  warmupMs: 1000,
  timeoutMs: 5000,
  threads: 1,
  roundTrips: 1,
} as const;

const MAX_CONNECTIONS = 100_000;
const MAX_DEPTH = 65_536;
const MAX_THREADS = 64;
const MAX_ROUND_TRIPS = 1_000_000;

/** How the per-second intervals are printed: text lines, JSON lines or CSV rows. */
const INTERVAL_FORMATS = ['text', 'json', 'csv'] as const;
export type IntervalFormat = (typeof INTERVAL_FORMATS)[number];
/** Every connection holds depth × size bytes of messages; more than this in all is a mistake. */
const MAX_RING_BYTES = 1024 ** 3;
/** The largest UDP payload over IPv4. */
const MAX_DATAGRAM = 65_507;

export const BENCH_FLAGS: readonly ToolFlagSpec[] = [
  {
    name: 'connections',
    short: 'c',
    kind: { integer: { min: 1, max: MAX_CONNECTIONS } },
    arg: 'N',
    description: 'connections (UDP: sockets) kept busy at once',
    shown: String(DEFAULTS.connections),
  },
  {
    name: 'depth',
    short: 'd',
    kind: { integer: { min: 1, max: MAX_DEPTH } },
    arg: 'N',
    description: 'messages in flight per connection; above 1 the messages are pipelined',
    shown: String(DEFAULTS.depth),
  },
  {
    name: 'size',
    short: 's',
    kind: 'size',
    arg: 'SIZE',
    description: 'bytes per message, its newline included',
    shown: String(DEFAULTS.size),
  },
  {
    name: 'duration',
    short: 't',
    kind: 'seconds',
    arg: 'DURATION',
    description: 'how long to measure, after the warm-up',
    shown: '5s; none with --count',
  },
  {
    name: 'count',
    short: 'n',
    kind: { integer: { min: 1, max: Number.MAX_SAFE_INTEGER } },
    arg: 'N',
    description: 'measure exactly N messages, then stop (with --duration: whichever comes first)',
  },
  {
    name: 'warmup',
    short: 'w',
    kind: 'seconds',
    arg: 'DURATION',
    description: 'load this long first without measuring (JIT, caches, TCP windows); 0 for none',
    shown: '1s',
  },
  {
    name: 'mode',
    kind: { oneOf: ['line', 'raw'] },
    arg: 'MODE',
    description: 'line: printable lines, newline-terminated; raw: messages of every byte value, no framing (RFC 862 servers)',
    shown: 'line',
  },
  {
    name: 'rate',
    short: 'r',
    kind: 'rate',
    arg: 'N/s',
    description:
      "open loop: N messages per second in all, on a fixed schedule; latency counts from each message's intended send time (coordinated omission corrected, like wrk2); --depth caps what is in flight per connection",
  },
  {
    name: 'connect-rate',
    kind: 'rate',
    arg: 'N/s',
    description:
      'connection-rate mode (like tcpkali --connect-rate): open N new connections per second, each does --round-trips echoes and closes; --connections caps how many are open at once; TCP and TLS only',
  },
  {
    name: 'round-trips',
    kind: { integer: { min: 1, max: MAX_ROUND_TRIPS } },
    arg: 'K',
    description: 'with --connect-rate: echoes each new connection completes before it closes',
    shown: String(DEFAULTS.roundTrips),
  },
  {
    name: 'threads',
    kind: { integer: { min: 1, max: MAX_THREADS } },
    arg: 'N',
    description: 'worker threads sharing the connections, so the client is not the bottleneck; 1 runs in the main thread',
    shown: String(DEFAULTS.threads),
  },
  {
    name: 'timeout',
    kind: 'seconds',
    arg: 'DURATION',
    description:
      'no echo (or no connect) for this long on a connection with messages outstanding counts a timeout and reconnects; UDP: the most a datagram is waited for (it counts as lost sooner, after a deadline from the round trips seen, at least 200 ms)',
    shown: '5s',
  },
  ...TRANSPORT_FLAGS,
  { name: 'json', kind: 'boolean', arg: '', description: 'print the summary as one JSON object (no table, no live line)' },
  {
    name: 'interval-format',
    kind: { oneOf: INTERVAL_FORMATS },
    arg: 'FORMAT',
    description:
      'print one line per second: text, json (JSON lines) or csv (a header row, then one row a second); with json or csv, stdout carries only those lines (and the --json summary, with json) and the rest goes to stderr',
    shown: 'a live line on a terminal, else none',
  },
  {
    name: 'digest',
    kind: { oneOf: ['none', ...DIGEST_ALGORITHMS] },
    arg: 'KIND',
    description:
      "crc32c or sha256: print each connection's digest of the bytes sent and received, to compare with echod --digest (costs client CPU)",
    shown: 'none',
  },
  {
    name: 'histogram',
    kind: 'string',
    arg: 'FILE',
    description: 'write the latency histograms (µs), one per second of the measured window, to FILE in HdrHistogram log format',
  },
];

export function benchHelp(): string {
  return [
    'echod bench - load an echo server, check every byte it echoes, and measure throughput and latency.',
    '',
    'Usage: echod bench [flags] [host:port]      (default 127.0.0.1:8080; a bare number is a port)',
    '       echod bench [flags] http://HOST:PORT/PATH   (also https://, ws://, wss://: requests/s or messages/s)',
    '',
    'Each message is unique (a sequence number, the connection id, a filler) and every echoed byte',
    'is compared with the byte sent. Errors are counted by kind; any of them (except UDP loss) makes',
    'the exit code 1. Exit codes: 0 all echoes matched, 1 errors or nothing echoed, 2 bad command line,',
    '130 interrupted (Ctrl-C) before anything was measured; a run interrupted after measuring reports',
    'what it measured and exits 0 or 1 as usual.',
    '',
    'Flags:',
    ...flagRows(BENCH_FLAGS),
    HELP_ROW,
    '',
    'Sizes: 64, 1500, 64KiB, 1MiB. Durations: 10 (seconds), 500ms, 10s, 1m.',
    '',
    'Output: on a terminal a live line (messages/s and p99 of the last second; --interval-format for',
    'lines a program reads); at the end a summary: messages measured, msgs/s, MB/s (message bytes one',
    'way, 10^6 bytes), the latency distribution (50% 75% 90% 99% 99.9% and max, from send to the last',
    'byte of the echo; "-" when nothing was measured), and errors by kind:',
    ...ERROR_KINDS.map((kind) => `  ${kind.padEnd(12)}${ERROR_MEANINGS[kind]}`),
    '',
    'Examples:',
    '  echod bench                                    50 connections, 1 in flight, 64 B, 5 s',
    '  echod bench -c 10 -d 32 -s 16KiB 127.0.0.1:7000  pipelined bulk',
    '  echod bench --rate 20k/s --duration 30 --histogram lat.hlog',
    '  echod bench --count 100000 --json --threads 2',
    '  echod bench --udp --mode raw 127.0.0.1:9000',
    '  echod bench --connect-rate 500/s --round-trips 10   new connections: the cost of each',
    '  echod bench --interval-format csv -t 60 > run.csv',
    '  echod bench -c 8 -s 1KiB http://127.0.0.1:8081/   HTTP keep-alive: POST ?format=raw, each body checked',
    '  echod bench -c 8 -d 16 wss://127.0.0.1:8444/ --tls-insecure   WebSocket messages, 16 in flight each',
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
  /** Connection-rate mode: new connections per second, all threads together; null: off. */
  connectRate: number | null;
  roundTrips: number;
  threads: number;
  timeoutMs: number;
  json: boolean;
  histogramFile: string | null;
  digest: DigestKind;
  /** Null: the live line on a terminal only. */
  intervalFormat: IntervalFormat | null;
  /** An http://, https://, ws:// or wss:// target (bench/web.ts), else null. */
  web: WebTarget | null;
}

/** What an http or WebSocket target's run does not take (it runs closed loop, in this thread, on binary bodies). */
const NOT_FOR_WEB = ['rate', 'connect-rate', 'round-trips', 'threads', 'mode', 'digest', 'interval-format'];

export function resolveBenchOptions(values: ReadonlyMap<string, ToolValue>, positionals: readonly string[]): BenchOptions {
  if (positionals.length > 1) throw new UsageError(`one target expected, got ${positionals.length}: ${positionals.join(' ')}`);
  const get = <T extends ToolValue>(name: string): T | undefined => values.get(name) as T | undefined;
  const web = isWebTarget(positionals[0]) ? webTargetFrom(positionals[0] as string, values) : null;
  const transport: TransportSpec = web === null ? transportFromFlags(values) : { kind: 'tcp' };
  if (web !== null) {
    const other = NOT_FOR_WEB.find((name) => values.has(name));
    if (other !== undefined) throw new UsageError(`--${other} does not apply to a ${web.scheme}:// target`);
    if ((web.scheme === 'http' || web.scheme === 'https') && (get<number>('depth') ?? 1) > 1)
      throw new UsageError('--depth above 1 needs a ws:// or wss:// target: an HTTP/1.1 connection carries one request at a time here');
  }
  const mode = get<PayloadMode>('mode') ?? 'line';
  const connections = get<number>('connections') ?? DEFAULTS.connections;
  const depth = get<number>('depth') ?? DEFAULTS.depth;
  const size = get<number>('size') ?? DEFAULTS.size;
  const countLimit = get<number>('count') ?? null;
  const duration = get<number>('duration');
  const threads = get<number>('threads') ?? DEFAULTS.threads;
  const timeoutMs = get<number>('timeout') ?? DEFAULTS.timeoutMs;
  const min = minimumSize(transport.kind, mode);
  if (size < min)
    throw new UsageError(
      `invalid --size: ${size} (expected at least ${min}${transport.kind === 'udp' ? ' with --udp: datagrams are matched by their 12-digit sequence number' : ''})`,
    );
  if (transport.kind === 'udp' && size > MAX_DATAGRAM)
    throw new UsageError(`invalid --size: ${size} (a UDP datagram holds at most ${MAX_DATAGRAM} bytes)`);
  if (connections * depth * size > MAX_RING_BYTES) {
    throw new UsageError(
      `--connections × --depth × --size is ${formatBytes(connections * depth * size)} of messages in flight; at most ${formatBytes(MAX_RING_BYTES)}`,
    );
  }
  if (duration === 0) throw new UsageError('invalid --duration: 0 (expected a duration above 0)');
  if (timeoutMs === 0) throw new UsageError('invalid --timeout: 0 (expected a duration above 0)');
  if (threads > connections) throw new UsageError(`--threads ${threads} is more than --connections ${connections}`);
  const rate = get<number>('rate') ?? null;
  const connectRate = get<number>('connect-rate') ?? null;
  const roundTrips = get<number>('round-trips');
  const digest = (get<string>('digest') ?? 'none') as DigestKind;
  if (roundTrips !== undefined && connectRate === null) throw new UsageError('--round-trips needs --connect-rate');
  if (connectRate !== null) {
    if (rate !== null) throw new UsageError('--connect-rate and --rate cannot be combined: pick one schedule');
    if (transport.kind === 'udp') throw new UsageError('--connect-rate needs connections: use it with TCP or --tls, not --udp');
    if (digest !== 'none') throw new UsageError('--digest applies to kept connections, not to --connect-rate');
  }
  return {
    target: web !== null ? { host: web.host, port: web.port } : parseTarget(positionals[0]),
    transport,
    mode,
    connections,
    depth,
    size,
    durationMs: duration ?? (countLimit !== null ? null : DEFAULTS.durationMs),
    count: countLimit,
    warmupMs: get<number>('warmup') ?? DEFAULTS.warmupMs,
    rate,
    connectRate,
    roundTrips: roundTrips ?? DEFAULTS.roundTrips,
    threads,
    timeoutMs,
    json: get<boolean>('json') === true,
    histogramFile: get<string>('histogram') ?? null,
    digest,
    intervalFormat: get<IntervalFormat>('interval-format') ?? null,
    web,
  };
}
