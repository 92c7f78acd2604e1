/**
 * The command line's flags: one table, from which parsing, environment variables
 * (`ECHOD_<NAME>`) and `--help` are all derived, so they cannot disagree.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { InvalidOptionError, UsageError } from '../core/errors.js';
import { FaultOptionError } from '../config/faults.js';
import { parseFault } from '../config/listen-url.js';
import { DEFAULTS } from '../config/options.js';
import { formatBytes, formatDurationMs, parseBytes, parseDurationMs } from '../core/units.js';
import { ADMIN_DEFAULTS, type AdminLimits, resolveAdminLimits } from '../observability/admin-limits.js';

/** How a flag's text becomes a value. */
type Kind = 'string' | 'integer' | 'size' | 'duration' | 'boolean' | 'workers' | 'urls' | 'fault' | { oneOf: readonly string[] };

export interface FlagSpec {
  /** The long flag without dashes, e.g. `max-line-bytes`; its env name is `ECHOD_MAX_LINE_BYTES`. */
  name: string;
  kind: Kind;
  /** Placeholder in `--help`, e.g. `SIZE`. */
  arg: string;
  description: string;
  /** Default as shown in `--help`; undefined for flags that are off unless given. */
  shown?: string;
}

/** More processes than this on one port is a mistake, not a configuration. */
const MAX_WORKERS = 256;

export const FLAGS: readonly FlagSpec[] = [
  { name: 'host', kind: 'string', arg: 'ADDR', description: 'address to listen on (:: for IPv4 and IPv6)', shown: DEFAULTS.host },
  { name: 'port', kind: 'integer', arg: 'PORT', description: 'TCP port to listen on; 0 picks a free port', shown: String(DEFAULTS.port) },
  { name: 'listen', kind: 'urls', arg: 'URL', description: 'a listener, repeatable: tcp://HOST:PORT, tls://:8443, udp://[::]:8080, unix:///run/echod.sock, each with ?mode=raw&proxy=optional (env: space-separated); replaces --host/--port' },
  { name: 'mode', kind: { oneOf: ['line', 'raw'] }, arg: 'MODE', description: 'line: echo newline-terminated lines; raw: echo every byte (RFC 862)', shown: DEFAULTS.mode },
  { name: 'max-line-bytes', kind: 'size', arg: 'SIZE', description: 'longest line accepted, newline included; longer closes the connection', shown: formatBytes(DEFAULTS.maxLineBytes) },
  { name: 'max-connections', kind: 'integer', arg: 'N', description: 'open connections at most; more are closed at once (0 = no limit)', shown: String(DEFAULTS.maxConnections) },
  { name: 'max-connections-per-ip', kind: 'integer', arg: 'N', description: 'open connections per client address at most (0 = no limit)', shown: String(DEFAULTS.maxConnectionsPerIp) },
  { name: 'idle-timeout', kind: 'duration', arg: 'DURATION', description: 'close a connection with no bytes either way for this long (0 = never)', shown: formatDurationMs(DEFAULTS.idleTimeoutMs) },
  { name: 'write-stall-timeout', kind: 'duration', arg: 'DURATION', description: 'close a client that takes none of its pending echo for this long (0 = never)', shown: formatDurationMs(DEFAULTS.writeStallTimeoutMs) },
  { name: 'drain-timeout', kind: 'duration', arg: 'DURATION', description: 'time a closing connection gets to finish before it is destroyed', shown: formatDurationMs(DEFAULTS.drainTimeoutMs) },
  { name: 'shutdown-delay', kind: 'duration', arg: 'DURATION', description: 'on SIGTERM, keep serving this long after /readyz turns 503', shown: formatDurationMs(DEFAULTS.shutdownDelayMs) },
  { name: 'backlog', kind: 'integer', arg: 'N', description: "length of the kernel's accept queue", shown: String(DEFAULTS.backlog) },
  { name: 'proxy-protocol', kind: { oneOf: ['off', 'optional', 'required'] }, arg: 'MODE', description: 'expect a PROXY protocol v1/v2 header before the client bytes (tcp and unix listeners; a tls:// listener takes ?proxy=)', shown: 'off' },
  { name: 'proxy-protocol-timeout', kind: 'duration', arg: 'DURATION', description: 'a PROXY header not complete by then closes the connection', shown: formatDurationMs(DEFAULTS.proxyProtocolTimeoutMs) },
  { name: 'tls-cert', kind: 'string', arg: 'FILE', description: 'PEM certificate chain for tls:// listeners (re-read on SIGHUP)' },
  { name: 'tls-key', kind: 'string', arg: 'FILE', description: 'PEM private key for tls:// listeners (re-read on SIGHUP)' },
  { name: 'tls-ca', kind: 'string', arg: 'FILE', description: 'PEM CA bundle to verify client certificates (mTLS)' },
  { name: 'tls-client-auth', kind: { oneOf: ['none', 'request', 'require'] }, arg: 'MODE', description: 'ask for (request) or insist on (require) a client certificate', shown: 'none' },
  { name: 'tls-min-version', kind: { oneOf: ['TLSv1.2', 'TLSv1.3'] }, arg: 'VERSION', description: 'oldest TLS version accepted', shown: 'TLSv1.2' },
  { name: 'tls-self-signed', kind: 'boolean', arg: '', description: 'make a self-signed certificate in memory at start-up (tests, labs)' },
  { name: 'udp-rate-per-source', kind: 'integer', arg: 'N', description: 'udp:// datagrams answered per second per source address (0 = no limit)', shown: String(DEFAULTS.udpRatePerSource) },
  { name: 'server-id', kind: 'string', arg: 'NAME', description: 'names this server in logs, metrics (server_id label) and /stats', shown: 'the host name' },
  { name: 'banner', kind: 'string', arg: 'TEMPLATE', description: 'a line sent when a connection opens: {hostname} {pid} {server_id} {conn_id} {remote} {local} {proxy_source} {time} {env:NAME}' },
  { name: 'prefix', kind: 'string', arg: 'TEMPLATE', description: 'put before every echoed line (same placeholders as --banner)' },
  { name: 'digest', kind: { oneOf: ['off', 'crc32c', 'sha256'] }, arg: 'KIND', description: "log a digest of each connection's received and sent bytes at close", shown: 'off' },
  { name: 'delay', kind: 'fault', arg: 'DURATION[..DURATION]', description: 'fault: hold each echo this long (a range is uniform jitter); order is kept' },
  { name: 'throttle', kind: 'fault', arg: 'RATE', description: 'fault: bytes per second per connection, each direction (e.g. 64KiB/s)' },
  { name: 'chunk', kind: 'fault', arg: 'N', description: 'fault: echo in writes of at most N bytes' },
  { name: 'close-after', kind: 'fault', arg: 'lines=N|bytes=N|time=D', description: 'fault: close each connection after that much (reason fault_close_after)' },
  { name: 'close-how', kind: 'fault', arg: 'fin|rst', description: 'fault: how --close-after closes', shown: 'fin' },
  { name: 'accept-then-hang', kind: 'fault', arg: '', description: 'fault: accept connections, then never read nor answer' },
  { name: 'refuse-rate', kind: 'fault', arg: 'SHARE', description: 'fault: close this share (0..1) of new connections at once' },
  { name: 'drop-rate', kind: 'fault', arg: 'SHARE', description: 'fault (udp): drop this share of datagrams' },
  { name: 'duplicate-rate', kind: 'fault', arg: 'SHARE', description: 'fault (udp): answer this share of datagrams twice' },
  { name: 'reorder-window', kind: 'fault', arg: 'N', description: 'fault (udp): release answers shuffled in groups of N' },
  { name: 'workers', kind: 'workers', arg: 'N|auto', description: 'processes sharing the port (auto: one per CPU); a dead one is restarted', shown: '1' },
  { name: 'admin-host', kind: 'string', arg: 'ADDR', description: 'address of the admin HTTP endpoint (keep it private)', shown: '127.0.0.1' },
  { name: 'admin-port', kind: 'integer', arg: 'PORT', description: 'serve /metrics, /healthz, /readyz and /stats on this port (off unless set)' },
  { name: 'admin-max-connections', kind: 'integer', arg: 'N', description: 'admin connections at most; at the cap a newcomer evicts the longest-waiting one without a request in progress', shown: String(ADMIN_DEFAULTS.maxConnections) },
  { name: 'admin-headers-timeout', kind: 'duration', arg: 'DURATION', description: 'close an admin connection whose request head is not complete this long after it began', shown: formatDurationMs(ADMIN_DEFAULTS.headersTimeoutMs) },
  { name: 'admin-keep-alive-timeout', kind: 'duration', arg: 'DURATION', description: 'close an idle keep-alive admin connection after this long', shown: formatDurationMs(ADMIN_DEFAULTS.keepAliveTimeoutMs) },
  { name: 'admin-request-timeout', kind: 'duration', arg: 'DURATION', description: 'close an admin connection whose response is not taken this long after its request', shown: formatDurationMs(ADMIN_DEFAULTS.requestTimeoutMs) },
  { name: 'admin-max-header-bytes', kind: 'size', arg: 'SIZE', description: 'largest admin request head; larger is answered 431 and closed', shown: formatBytes(ADMIN_DEFAULTS.maxHeaderBytes) },
  { name: 'admin-max-page-size', kind: 'integer', arg: 'N', description: 'most entries in one page of GET /connections (?limit= is capped to it; 100 without it)', shown: String(ADMIN_DEFAULTS.maxPageSize) },
  { name: 'log-level', kind: { oneOf: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] }, arg: 'LEVEL', description: 'debug logs each message\'s size, trace its content', shown: 'info' },
  { name: 'log-format', kind: { oneOf: ['auto', 'json', 'pretty'] }, arg: 'FORMAT', description: 'auto: pretty on a terminal, JSON lines otherwise', shown: 'auto' },
];

export type FlagValue = string | number | boolean | string[];

export interface ParsedCommandLine {
  help: boolean;
  version: boolean;
  /** Flag name → typed value, for every flag given on the command line or in the environment. */
  values: Map<string, FlagValue>;
}

/** The admin endpoint's bounds: AdminServer option → the flag that sets it. */
export const ADMIN_LIMIT_FLAGS: Readonly<Record<keyof AdminLimits, string>> = {
  maxConnections: 'admin-max-connections',
  headersTimeoutMs: 'admin-headers-timeout',
  keepAliveTimeoutMs: 'admin-keep-alive-timeout',
  requestTimeoutMs: 'admin-request-timeout',
  maxHeaderBytes: 'admin-max-header-bytes',
  maxPageSize: 'admin-max-page-size',
};

/** The admin bounds given by flags or environment, resolved; a bad one is a UsageError naming its flag. */
export function adminLimitsFrom(values: ReadonlyMap<string, FlagValue>): AdminLimits {
  const given = Object.fromEntries(Object.entries(ADMIN_LIMIT_FLAGS).flatMap(([option, flag]) => (values.has(flag) ? [[option, values.get(flag)]] : [])));
  try {
    return resolveAdminLimits(given);
  } catch (err) {
    if (!(err instanceof InvalidOptionError)) throw err;
    const flag = ADMIN_LIMIT_FLAGS[err.option as keyof AdminLimits];
    throw new UsageError(err.message.replace(`invalid ${err.option}:`, `invalid --${flag}:`));
  }
}

export function envName(flag: string): string {
  return `ECHOD_${flag.toUpperCase().replaceAll('-', '_')}`;
}

/** Reads flags, then `ECHOD_*` variables for the flags not given; flags win. */
export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv): ParsedCommandLine {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
        ...Object.fromEntries(FLAGS.map((flag) => [flag.name, { type: flag.kind === 'boolean' || flag.arg === '' ? 'boolean' : 'string', multiple: flag.kind === 'urls' }] as const)),
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const values = new Map<string, FlagValue>();
  for (const flag of FLAGS) {
    const given = parsed.values[flag.name];
    const fromEnv = env[envName(flag.name)];
    if (given !== undefined) values.set(flag.name, convert(flag, given, `--${flag.name}`));
    else if (fromEnv !== undefined && fromEnv !== '') values.set(flag.name, convert(flag, fromEnv, envName(flag.name)));
  }
  return { help: parsed.values.help === true, version: parsed.values.version === true, values };
}

function convert(flag: FlagSpec, raw: string | boolean | (string | boolean)[], source: string): FlagValue {
  if (flag.kind === 'urls') {
    // Repeatable on the command line; space-separated in the environment.
    const items = Array.isArray(raw) ? raw.map(String) : String(raw).split(/\s+/).filter((item) => item !== '');
    return items;
  }
  if (Array.isArray(raw)) throw new UsageError(`${source} given more than once`);
  const text = String(raw);
  const kind = flag.kind;
  const bad = (expected: string): never => {
    throw new UsageError(`invalid ${source}: ${JSON.stringify(text)} (expected ${expected})`);
  };
  if (kind === 'string') return text;
  if (kind === 'fault') {
    // Checked here so a bad value exits 2 naming the flag; the listeners get the parsed form.
    try {
      parseFault(flag.name, typeof raw === 'boolean' ? '' : text);
    } catch (err) {
      if (err instanceof FaultOptionError) throw new UsageError(`invalid ${source}: ${err.message}`);
      throw err;
    }
    return typeof raw === 'boolean' ? 'true' : text;
  }
  if (kind === 'boolean') {
    if (typeof raw === 'boolean') return raw;
    if (text === '') return true;
    if (/^(1|true|yes|on)$/i.test(text)) return true;
    if (/^(0|false|no|off)$/i.test(text)) return false;
    return bad('true or false');
  }
  if (kind === 'integer') return /^\d+$/.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : bad('a whole number ≥ 0');
  if (kind === 'size') return parseBytes(text) ?? bad('a size such as 65536, 64KiB or 1MiB');
  if (kind === 'workers') {
    if (text === 'auto') return availableParallelism();
    return /^\d+$/.test(text) && Number(text) >= 1 && Number(text) <= MAX_WORKERS ? Number(text) : bad(`auto or a whole number from 1 to ${MAX_WORKERS}`);
  }
  if (kind === 'duration') return parseDurationMs(text) ?? bad('a duration such as 500ms, 30s or 5m, or 0');
  return kind.oneOf.includes(text) ? text : bad(kind.oneOf.join(', '));
}

export function helpText(version: string): string {
  const rows = FLAGS.map((flag) => {
    const left = `  --${flag.name}${flag.arg === '' ? '' : ` ${flag.arg}`}`;
    const right = `${flag.description}${flag.shown !== undefined ? ` [default: ${flag.shown}]` : ''} [env: ${envName(flag.name)}]`;
    return `${left.padEnd(36)}${right}`;
  });
  return [
    `echod ${version} - a TCP echo server: every line (or, in raw mode, every byte) comes back as sent.`,
    '',
    'Usage: echod [flags]           serve',
    '       echod bench HOST:PORT   load-test any echo server, every byte verified (echod bench --help)',
    '       echod check HOST:PORT   conformance checks for any echo server (echod check --help)',
    '',
    'Flags (each can also be set by its environment variable; a flag wins over the variable):',
    ...rows,
    `${'  -h, --help'.padEnd(36)}show this help`,
    `${'  -v, --version'.padEnd(36)}print the version`,
    '',
    'Sizes: 65536, 64KiB, 1MiB, 1MB. Durations: 500ms, 30s, 5m, 1h, or 0 for off.',
    'Signals: SIGTERM or SIGINT drains and exits 0; a second one exits at once. SIGHUP re-reads the TLS files.',
    'systemd socket activation: listening sockets passed in LISTEN_FDS are served (stream sockets).',
    '',
    'Examples:',
    '  echod --port 7000',
    '  echod --listen tcp://:8080 --listen udp://:8080 --listen tls://:8443 --tls-self-signed',
    '  echod --listen "tcp://[::]:7000?mode=raw&proxy=optional"',
    '  ECHOD_MAX_LINE_BYTES=64KiB echod --idle-timeout 30s --admin-port 9090',
    '  printf "hello\\n" | nc -q1 127.0.0.1 8080',
  ].join('\n');
}
