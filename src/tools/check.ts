/**
 * `echod check [host:port]`: a conformance suite for an echo server, or for anything in front of
 * one (a proxy, a TLS terminator). Runs the cases of check-cases.ts one after another, prints
 * PASS / FAIL / NOTE for each with its reason, and exits 0 only if no case failed. With
 * `--digest`, each connection's digests of what it sent and received are printed too, to be
 * compared with the `digest` of echod's close lines (`--digest` on the server).
 */
import { UsageError } from '../core/errors.js';
import { formatBytes } from '../core/units.js';
import { applicableCases, CASES, type CaseStatus, type CheckMode, type CheckSettings, runCase } from './check-cases.js';
import { flagRows, HELP_ROW, parseToolArgs, type ToolFlagSpec, type ToolValue } from './flags.js';
import type { ConnectionDigest } from './check-client.js';
import { DIGEST_ALGORITHMS, type DigestAlgorithm } from './digest.js';
import { count, type Difference } from './format.js';
import { EXIT_FAILURE, EXIT_OK, processIo, type ToolIo, usageError } from './io.js';
import { formatTarget, parseTarget, resolveTarget, type Target, TRANSPORT_FLAGS, transportFromFlags, transportName, type TransportSpec } from './target.js';

export type { ToolIo } from './io.js';

const DEFAULTS = {
  maxSize: 64 * 1024,
  idleMs: 2000,
  timeoutMs: 5000,
  connections: 100,
  slowBytes: 8 * 1024 * 1024,
} as const;

const MAX_CONNECTIONS = 10_000;
/** The long line is held in memory twice (sent and received). */
const MAX_MAX_SIZE = 256 * 1024 * 1024;

export const CHECK_FLAGS: readonly ToolFlagSpec[] = [
  { name: 'mode', kind: { oneOf: ['line', 'raw'] }, arg: 'MODE', description: 'line: a line echo (the tail at half-close and the longest line are policy, observed); raw: an RFC 862 byte echo (both are required, and bytes without a newline must come back)', shown: 'line' },
  { name: 'max-size', kind: 'size', arg: 'SIZE', description: 'length of the long line of the max-line case, its newline included', shown: formatBytes(DEFAULTS.maxSize) },
  { name: 'idle', kind: 'seconds', arg: 'DURATION', description: 'how long the idle case leaves its connection silent', shown: '2s' },
  { name: 'timeout', kind: 'seconds', arg: 'DURATION', description: 'how long any one wait of a case lasts before the case fails', shown: '5s' },
  { name: 'connections', kind: { integer: { min: 1, max: MAX_CONNECTIONS } }, arg: 'N', description: 'connections the concurrent case holds open at once (opened a few at a time, then all sending together)', shown: String(DEFAULTS.connections) },
  { name: 'slow-size', kind: 'size', arg: 'SIZE', description: 'bytes the slow-reader case sends (more than the socket buffers hold)', shown: formatBytes(DEFAULTS.slowBytes) },
  { name: 'cases', kind: 'string', arg: 'LIST', description: 'run only these cases (comma-separated names; see below)' },
  {
    name: 'digest',
    kind: { oneOf: ['none', ...DIGEST_ALGORITHMS] },
    arg: 'KIND',
    description: "crc32c or sha256: print each connection's client port, bytes and digest of what it sent and received, to compare with echod --digest's close lines (its received is check's sent); TCP and TLS only",
    shown: 'none',
  },
  ...TRANSPORT_FLAGS,
  { name: 'json', kind: 'boolean', arg: '', description: 'print the results as one JSON object' },
];

export function checkHelp(): string {
  const describe = (transport: 'stream' | 'datagram'): string[] =>
    CASES.filter((c) => c.transport === transport).map((c) => {
      const policy = c.policy('line') ? (c.policy('raw') ? ' [observed]' : ' [observed in line mode]') : '';
      return `  ${c.name.padEnd(18)}${c.title}${c.mode !== undefined ? ` (${c.mode} mode only)` : ''}${policy}`;
    });
  return [
    'echod check - check that a server (or whatever is in front of it) is a correct echo.',
    '',
    'Usage: echod check [flags] [host:port]      (default 127.0.0.1:8080; a bare number is a port)',
    '',
    'Runs each case on fresh connections and prints PASS or FAIL with the reason and, for bytes that',
    'differ, the offset and both versions escaped. Cases marked [observed] depend on the server\'s',
    'policy: they print NOTE with what the server did, and fail only if bytes come back corrupted.',
    'Exit codes: 0 every required case passed, 1 a case failed, 2 bad command line.',
    '',
    'Flags:',
    ...flagRows(CHECK_FLAGS),
    HELP_ROW,
    '',
    'Cases over TCP and TLS:',
    ...describe('stream'),
    'Cases with --udp:',
    ...describe('datagram'),
    '',
    'Sizes: 65536, 64KiB, 1MiB. Durations: 2 (seconds), 500ms, 10s.',
    '',
    'Examples:',
    '  echod check                                   the local echod on 8080',
    '  echod check --mode raw 127.0.0.1:7',
    '  echod check --tls --tls-ca ca.pem echo.example.net:443',
    '  echod check --udp 127.0.0.1:9000',
    '  echod check --cases half-close,idle --idle 30 --json',
    '  echod check --digest crc32c 127.0.0.1:9000     (through a proxy: compare with echod --digest crc32c)',
  ].join('\n');
}

export interface CaseResult {
  name: string;
  title: string;
  status: CaseStatus;
  /** False for cases that are policy in this mode (their result is at worst a NOTE, unless bytes were corrupted). */
  required: boolean;
  reason: string;
  difference?: Difference;
  durationMs: number;
  /** With `--digest`: each stream connection the case opened, its bytes and digests. */
  connections?: ConnectionDigest[];
}

export interface CheckResult {
  ok: boolean;
  target: string;
  transport: TransportSpec['kind'];
  mode: CheckMode;
  /** With `--digest`: the algorithm of every case's `connections[].digest`. */
  digest?: DigestAlgorithm;
  passed: number;
  failed: number;
  notes: number;
  cases: CaseResult[];
  /** Why nothing could be checked (the host does not resolve). */
  error?: string;
}

interface CheckOptions {
  target: { host: string; port: number };
  transport: TransportSpec;
  mode: CheckMode;
  maxSize: number;
  idleMs: number;
  timeoutMs: number;
  connections: number;
  slowBytes: number;
  cases: string[] | null;
  digest: DigestAlgorithm | null;
  json: boolean;
}

function resolveCheckOptions(values: ReadonlyMap<string, ToolValue>, positionals: readonly string[]): CheckOptions {
  if (positionals.length > 1) throw new UsageError(`one target expected, got ${positionals.length}: ${positionals.join(' ')}`);
  const get = <T extends ToolValue>(name: string): T | undefined => values.get(name) as T | undefined;
  const transport = transportFromFlags(values);
  const mode = get<CheckMode>('mode') ?? 'line';
  const maxSize = get<number>('max-size') ?? DEFAULTS.maxSize;
  if (maxSize < 2 || maxSize > MAX_MAX_SIZE) throw new UsageError(`invalid --max-size: ${maxSize} (expected 2 bytes to ${formatBytes(MAX_MAX_SIZE)})`);
  const slowBytes = get<number>('slow-size') ?? DEFAULTS.slowBytes;
  if (slowBytes < 1024 || slowBytes > MAX_MAX_SIZE) throw new UsageError(`invalid --slow-size: ${slowBytes} (expected 1KiB to ${formatBytes(MAX_MAX_SIZE)})`);
  const digestFlag = get<string>('digest') ?? 'none';
  const digest = digestFlag === 'none' ? null : (digestFlag as DigestAlgorithm);
  // echod digests connections; its UDP echo keeps no per-datagram digest to compare with.
  if (digest !== null && transport.kind === 'udp') throw new UsageError('--digest applies to TCP and TLS connections, not to --udp');
  const timeoutMs = get<number>('timeout') ?? DEFAULTS.timeoutMs;
  if (timeoutMs === 0) throw new UsageError('invalid --timeout: 0 (expected a duration above 0)');
  let cases: string[] | null = null;
  const list = get<string>('cases');
  if (list !== undefined) {
    cases = list.split(',').map((name) => name.trim()).filter((name) => name !== '');
    const known = applicableCases(transport.kind, mode).map((c) => c.name);
    const unknown = cases.filter((name) => !known.includes(name));
    if (unknown.length > 0 || cases.length === 0) {
      throw new UsageError(`invalid --cases: ${JSON.stringify(list)} (${unknown.length > 0 ? `no case ${unknown.join(', ')} ` : ''}expected names among: ${known.join(', ')})`);
    }
  }
  return {
    target: parseTarget(positionals[0]),
    transport,
    mode,
    maxSize,
    idleMs: get<number>('idle') ?? DEFAULTS.idleMs,
    timeoutMs,
    connections: get<number>('connections') ?? DEFAULTS.connections,
    slowBytes,
    cases,
    digest,
    json: get<boolean>('json') === true,
  };
}

const LABELS: Readonly<Record<CaseStatus, string>> = { pass: 'PASS', fail: 'FAIL', note: 'NOTE' };

export async function checkMain(argv: readonly string[], io: ToolIo = processIo()): Promise<number> {
  let options: CheckOptions;
  try {
    const parsed = parseToolArgs(CHECK_FLAGS, argv);
    if (parsed.help) {
      io.stdout.write(`${checkHelp()}\n`);
      return EXIT_OK;
    }
    options = resolveCheckOptions(parsed.values, parsed.positionals);
  } catch (err) {
    return usageError(io, 'check', err);
  }
  let target: Target;
  try {
    target = await resolveTarget(options.target.host, options.target.port);
  } catch (err) {
    const message = (err as Error).message;
    if (options.json) io.stdout.write(`${JSON.stringify({ ok: false, target: formatTarget(options.target), error: message })}\n`);
    else io.stderr.write(`echod check: ${message}\n`);
    return EXIT_FAILURE;
  }
  const settings: CheckSettings = {
    target,
    transport: options.transport,
    mode: options.mode,
    maxSize: options.maxSize,
    idleMs: options.idleMs,
    timeoutMs: options.timeoutMs,
    connections: options.connections,
    slowBytes: options.slowBytes,
    digest: options.digest,
  };
  const cases = applicableCases(options.transport.kind, options.mode).filter((c) => options.cases === null || options.cases.includes(c.name));
  if (!options.json) {
    io.stdout.write(`echod check ${formatTarget(options.target)}: ${transportName(options.transport)}, ${options.mode} mode, ${cases.length} cases, each wait at most ${options.timeoutMs / 1000} s\n`);
    if (options.digest !== null) io.stdout.write(`${digestLegend(options.digest)}\n`);
    io.stdout.write('\n');
  }

  const results: CaseResult[] = [];
  const nameWidth = Math.max(...cases.map((c) => c.name.length));
  for (const c of cases) {
    const started = performance.now();
    const outcome = await runCase(c, settings);
    const result: CaseResult = {
      name: c.name,
      title: c.title,
      status: outcome.status,
      required: !c.policy(options.mode),
      reason: outcome.reason,
      durationMs: Math.round(performance.now() - started),
      ...(outcome.difference !== undefined ? { difference: outcome.difference } : {}),
      ...(outcome.connections !== undefined ? { connections: outcome.connections } : {}),
    };
    results.push(result);
    if (!options.json) io.stdout.write(`${row(result, nameWidth)}\n`);
  }

  const tally = (status: CaseStatus): number => results.filter((r) => r.status === status).length;
  const result: CheckResult = {
    ok: tally('fail') === 0,
    target: formatTarget(options.target),
    transport: options.transport.kind,
    mode: options.mode,
    ...(options.digest !== null ? { digest: options.digest } : {}),
    passed: tally('pass'),
    failed: tally('fail'),
    notes: tally('note'),
    cases: results,
  };
  if (options.json) io.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    const notes = result.notes > 0 ? `, ${result.notes} observation${result.notes === 1 ? '' : 's'} (NOTE)` : '';
    io.stdout.write(`\n${result.passed} passed, ${result.failed} failed${notes}: ${result.ok ? 'OK' : 'FAIL'}\n`);
  }
  return result.ok ? EXIT_OK : EXIT_FAILURE;
}

function row(result: CaseResult, nameWidth: number): string {
  const time = result.durationMs >= 1000 ? `${(result.durationMs / 1000).toFixed(1)} s` : `${result.durationMs} ms`;
  const lines = [`  ${LABELS[result.status]}  ${result.name.padEnd(nameWidth)}  ${result.title} (${time})`];
  // Under the title: two spaces, the four-letter label, two spaces, the name, two spaces.
  const indent = ' '.repeat(10 + nameWidth);
  lines.push(`${indent}${result.reason}`);
  if (result.difference !== undefined) {
    const at = `at byte ${count(result.difference.offset)}: `;
    lines.push(`${indent}${at}expected ${result.difference.expected}`);
    lines.push(`${indent}${' '.repeat(at.length)}got      ${result.difference.got}`);
  }
  for (const connection of result.connections ?? []) lines.push(`${indent}${digestLine(connection)}`);
  return lines.join('\n');
}

/** What the per-connection digest lines mean, printed once above the table. */
function digestLegend(algorithm: DigestAlgorithm): string {
  return [
    `  ${algorithm} of each connection: "from" is the client's address and port (echod's "remote" and "remotePort"`,
    '  unless a proxy is in between); check\'s "sent" is the "received" of echod\'s close line and "received" its "sent".',
  ].join('\n');
}

/** One connection's digests: `from 127.0.0.1:40312  sent 33 B 1a2b3c4d  received 33 B 1a2b3c4d`. */
function digestLine(connection: ConnectionDigest): string {
  const { digest } = connection;
  return `${digest.algorithm} from ${connection.local}  sent ${count(connection.bytesSent)} B ${digest.sent}  received ${count(connection.bytesReceived)} B ${digest.received}`;
}
