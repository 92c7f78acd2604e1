/**
 * `echod check`'s command line: the flag table (parsing and `--help` both derive from it), the
 * help text listing every case, and the options a run needs, resolved and checked once.
 */
import { UsageError } from '../../core/errors.js';
import { formatBytes } from '../../core/units.js';
import { DIGEST_ALGORITHMS, type DigestAlgorithm } from '../digest.js';
import { flagRows, HELP_ROW, type ToolFlagSpec, type ToolValue } from '../flags.js';
import { parseTarget, TRANSPORT_FLAGS, transportFromFlags, type TransportSpec } from '../target.js';
import { applicableCases, CASES, type CheckMode, type CheckSettings } from './cases.js';
import { isWebTarget, webTargetFrom } from '../web.js';

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
  {
    name: 'mode',
    kind: { oneOf: ['line', 'raw'] },
    arg: 'MODE',
    description:
      'line: a line echo (the tail at half-close and the longest line are policy, observed); raw: an RFC 862 byte echo (both are required, and bytes without a newline must come back)',
    shown: 'line',
  },
  {
    name: 'max-size',
    kind: 'size',
    arg: 'SIZE',
    description: 'length of the long line of the max-line case, its newline included',
    shown: formatBytes(DEFAULTS.maxSize),
  },
  { name: 'idle', kind: 'seconds', arg: 'DURATION', description: 'how long the idle case leaves its connection silent', shown: '2s' },
  {
    name: 'timeout',
    kind: 'seconds',
    arg: 'DURATION',
    description: 'how long any one wait of a case lasts before the case fails',
    shown: '5s',
  },
  {
    name: 'connections',
    kind: { integer: { min: 1, max: MAX_CONNECTIONS } },
    arg: 'N',
    description: 'connections the concurrent case holds open at once (opened a few at a time, then all sending together)',
    shown: String(DEFAULTS.connections),
  },
  {
    name: 'slow-size',
    kind: 'size',
    arg: 'SIZE',
    description: 'bytes the slow-reader case sends (more than the socket buffers hold)',
    shown: formatBytes(DEFAULTS.slowBytes),
  },
  { name: 'cases', kind: 'string', arg: 'LIST', description: 'run only these cases (comma-separated names; see below)' },
  {
    name: 'digest',
    kind: { oneOf: ['none', ...DIGEST_ALGORITHMS] },
    arg: 'KIND',
    description:
      "crc32c or sha256: print each connection's client port, bytes and digest of what it sent and received, to compare with echod --digest's close lines (its received is check's sent); TCP and TLS only",
    shown: 'none',
  },
  ...TRANSPORT_FLAGS,
  { name: 'json', kind: 'boolean', arg: '', description: 'print the results as one JSON object' },
];

export function checkHelp(): string {
  const describe = (transport: 'stream' | 'datagram' | 'http' | 'websocket'): string[] =>
    CASES.filter((c) => c.transport === transport).map((c) => {
      const policy = c.policy('line') ? (c.policy('raw') ? ' [observed]' : ' [observed in line mode]') : '';
      return `  ${c.name.padEnd(18)}${c.title}${c.mode !== undefined ? ` (${c.mode} mode only)` : ''}${policy}`;
    });
  return [
    'echod check - check that a server (or whatever is in front of it) is a correct echo.',
    '',
    'Usage: echod check [flags] [host:port]      (default 127.0.0.1:8080; a bare number is a port)',
    '       echod check [flags] http://HOST:PORT/PATH   (also https://, ws://, wss://: an HTTP or WebSocket echo)',
    '',
    'Runs each case on fresh connections and prints PASS or FAIL with the reason and, for bytes that',
    "differ, the offset and both versions escaped. Cases marked [observed] depend on the server's",
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
    "Cases on an http:// or https:// target (echod's JSON document and ?format=raw echo):",
    ...describe('http'),
    'Cases on a ws:// or wss:// target:',
    ...describe('websocket'),
    '',
    'Sizes: 65536, 64KiB, 1MiB. Durations: 2 (seconds), 500ms, 10s.',
    '',
    'Examples:',
    '  echod check                                   the local echod on 8080',
    '  echod check --mode raw 127.0.0.1:7',
    '  echod check --tls --tls-ca ca.pem echo.example.net:443',
    '  echod check --udp 127.0.0.1:9000',
    "  echod check http://127.0.0.1:8081/          echod's HTTP echo (https:// with --tls-insecure for a self-signed one)",
    '  echod check ws://127.0.0.1:8081/',
    '  echod check --cases half-close,idle --idle 30 --json',
    '  echod check --digest crc32c 127.0.0.1:9000     (through a proxy: compare with echod --digest crc32c)',
  ].join('\n');
}

/** The case settings as the command line gives them (the target not yet resolved to an address), with which cases to run and how to report. */
export interface CheckOptions extends Omit<CheckSettings, 'target'> {
  target: { host: string; port: number };
  cases: string[] | null;
  json: boolean;
}

export function resolveCheckOptions(values: ReadonlyMap<string, ToolValue>, positionals: readonly string[]): CheckOptions {
  if (positionals.length > 1) throw new UsageError(`one target expected, got ${positionals.length}: ${positionals.join(' ')}`);
  const get = <T extends ToolValue>(name: string): T | undefined => values.get(name) as T | undefined;
  const web = isWebTarget(positionals[0]) ? webTargetFrom(positionals[0] as string, values) : null;
  const transport: TransportSpec = web === null ? transportFromFlags(values) : { kind: 'tcp' };
  const mode = get<CheckMode>('mode') ?? 'line';
  const maxSize = get<number>('max-size') ?? DEFAULTS.maxSize;
  if (maxSize < 2 || maxSize > MAX_MAX_SIZE)
    throw new UsageError(`invalid --max-size: ${maxSize} (expected 2 bytes to ${formatBytes(MAX_MAX_SIZE)})`);
  const slowBytes = get<number>('slow-size') ?? DEFAULTS.slowBytes;
  if (slowBytes < 1024 || slowBytes > MAX_MAX_SIZE)
    throw new UsageError(`invalid --slow-size: ${slowBytes} (expected 1KiB to ${formatBytes(MAX_MAX_SIZE)})`);
  const digestFlag = get<string>('digest') ?? 'none';
  const digest = digestFlag === 'none' ? null : (digestFlag as DigestAlgorithm);
  // echod digests connections; its UDP echo keeps no per-datagram digest to compare with.
  if (digest !== null && web !== null)
    throw new UsageError(`--digest applies to TCP and TLS connections, not to a ${web.scheme}:// target`);
  if (digest !== null && transport.kind === 'udp') throw new UsageError('--digest applies to TCP and TLS connections, not to --udp');
  const timeoutMs = get<number>('timeout') ?? DEFAULTS.timeoutMs;
  if (timeoutMs === 0) throw new UsageError('invalid --timeout: 0 (expected a duration above 0)');
  let cases: string[] | null = null;
  const list = get<string>('cases');
  if (list !== undefined) {
    cases = list
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== '');
    const known = applicableCases(web?.scheme ?? transport.kind, mode).map((c) => c.name);
    const unknown = cases.filter((name) => !known.includes(name));
    if (cases.length === 0)
      throw new UsageError(`invalid --cases: ${JSON.stringify(list)} (name at least one of the cases: ${known.join(', ')})`);
    if (unknown.length > 0) {
      const what = unknown.length === 1 ? `there is no case named ${unknown[0]}` : `there are no cases named ${unknown.join(', ')}`;
      throw new UsageError(
        `invalid --cases: ${JSON.stringify(list)} (${what}; the cases${transport.kind === 'udp' ? ' with --udp' : ''}${mode === 'raw' ? ' in raw mode' : ''} are: ${known.join(', ')})`,
      );
    }
  }
  return {
    target: web !== null ? { host: web.host, port: web.port } : parseTarget(positionals[0]),
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
    web,
  };
}
