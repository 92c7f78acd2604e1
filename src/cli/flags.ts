/**
 * The command line's flags: one table, from which parsing, environment variables
 * (`ECHOD_<NAME>`) and `--help` are all derived, so they cannot disagree.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { InvalidOptionError, UsageError } from '../core/errors.js';
import { FAULTS, FaultOptionError, type ListenerKind, parseFault } from '../config/faults.js';
import { DIGEST_KINDS } from '../core/digest.js';
import { DEFAULTS, MODES } from '../config/options.js';
import { PROXY_PROTOCOL_MODES } from '../config/listen-url.js';
import { LOG_FORMATS, LOG_LEVELS } from './logger.js';
import { formatBytes, formatDurationMs, parseBytes, parseDurationMs } from '../core/units.js';
import { ADMIN_DEFAULTS, type AdminLimits, resolveAdminLimits } from '../observability/admin-limits.js';
import { HTTP_DEFAULTS } from '../config/http-options.js';
import { PLACEHOLDER_LIST } from '../core/template.js';
import { checkFlagTokens } from '../core/flag-tokens.js';
import { nearestSpelling } from '../core/spelling.js';

/** How a flag's text becomes a value. */
type Kind = 'string' | 'integer' | 'size' | 'duration' | 'boolean' | 'onOff' | 'workers' | 'urls' | 'fault' | { oneOf: readonly string[] };

export interface FlagSpec {
  /** The long flag without dashes, e.g. `max-line-bytes`; its env name is `ECHOD_MAX_LINE_BYTES`. */
  name: string;
  kind: Kind;
  /** Placeholder in `--help`, e.g. `SIZE`. */
  arg: string;
  description: string;
  /**
   * Default as shown in `--help`; undefined for flags that are off unless given. Left out of a
   * row whose `option` has a library default: {@link FLAGS} fills it in from that default.
   */
  shown?: string;
  /**
   * The library option this flag sets (`maxLineBytes`, `tls.cert`, `listeners`, the admin
   * endpoint's `admin.maxConnections`), so an error about the option names the flag; undefined
   * for flags only the CLI reads.
   */
  option?: string;
  /**
   * Where the configuration summaries (effective-config.ts: `--check-config` and the `echod
   * started` line) show this flag: in a listener's line, the tls line, the admin line or the
   * workers line. Undefined: among the options, whenever its value is not its default.
   */
  summary?: 'listeners' | 'tls' | 'admin' | 'workers';
  /**
   * The kinds of listener the flag acts on; with none of them, config-warnings.ts says it has
   * no effect. Undefined: every kind, or the process (the http.* flags get `http`, the faults
   * their table's kinds).
   */
  appliesTo?: readonly ListenerKind[];
}

/** A stream connection's bounds: tcp, tls and unix, and the http listeners' connections too. */
const CONNECTIONS: readonly ListenerKind[] = ['stream', 'http'];
/** The byte echo's framing and extras: tcp, tls and unix only (http answers requests, udp datagrams). */
const BYTE_ECHO: readonly ListenerKind[] = ['stream'];

/** What a tool command gets from the process (the shape of src/tools/io.ts's ToolIo). */
export interface CommandIo {
  env: NodeJS.ProcessEnv;
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown };
}

/** A subcommand: `echod check …`. Dispatch, `--help` and the unknown-command message all read {@link COMMANDS}. */
export interface CommandSpec {
  /** The words that name it, space-separated: `check`, `config check`. */
  name: string;
  /** Its arguments as `--help` shows them. */
  arg: string;
  description: string;
  /** A tool's entry (loaded only when the command is run), or the flags of echod itself it stands for. */
  run: { load: () => Promise<(argv: readonly string[], io: CommandIo) => Promise<number>> } | { flags: readonly string[] };
}

/** The subcommands, in the order `--help` lists them. */
export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'check',
    arg: 'HOST:PORT',
    description: 'conformance checks for any echo server (echod check --help)',
    run: { load: async () => (await import('../tools/check.js')).checkMain },
  },
  {
    name: 'bench',
    arg: 'HOST:PORT',
    description: 'load-test any echo server, every byte verified (echod bench --help)',
    run: { load: async () => (await import('../tools/bench.js')).benchMain },
  },
  {
    name: 'config check',
    arg: '[flags]',
    description: 'check the configuration and exit, binding nothing (as --check-config)',
    run: { flags: ['--check-config'] },
  },
];

/** What the first words of a command line name: a subcommand and the arguments after it, or a word that is none. */
export type CommandWords = { command: CommandSpec; rest: readonly string[] } | { unknown: string } | null;

/** The subcommand `argv` starts with; null when it starts with a flag (or is empty): echod serves. */
export function commandOf(argv: readonly string[]): CommandWords {
  const first = argv[0];
  if (first === undefined || first.startsWith('-')) return null;
  for (const command of COMMANDS) {
    const words = command.name.split(' ');
    if (words.every((word, index) => argv[index] === word)) return { command, rest: argv.slice(words.length) };
  }
  // `config chek`: the first word starts a command, so the mistake is in the words after it.
  // Only words, not the flags after them (`echod help config` asks `config --help`).
  const started = COMMANDS.find((command) => command.name.split(' ')[0] === first && command.name.includes(' '));
  const length = started !== undefined ? started.name.split(' ').length : 1;
  const words = argv.slice(0, length).filter((word) => !word.startsWith('-'));
  return { unknown: words.join(' ') };
}

/** `unknown command 'chek' (did you mean check? commands: check, bench, config check; see echod --help)`. */
export function unknownCommandMessage(name: string): string {
  const names = COMMANDS.map((command) => command.name);
  const near = nearestSpelling(name, names);
  const incomplete = names.filter((command) => command.startsWith(`${name} `));
  const hint =
    incomplete.length > 0
      ? `'${name}' needs a word after it: ${incomplete.join(', ')}; `
      : near !== undefined
        ? `did you mean ${near}? `
        : '';
  return `unknown command '${name}' (${hint}commands: ${names.join(', ')}; see echod --help)`;
}

/** More processes than this on one port is a mistake, not a configuration. */
const MAX_WORKERS = 256;

/** The table as written: a flag that sets a library option leaves out the default it shows (see {@link FLAGS}). */
const FLAG_ROWS: readonly FlagSpec[] = [
  {
    name: 'host',
    kind: 'string',
    arg: 'ADDR',
    description: 'address to listen on (:: for IPv4 and IPv6)',
    option: 'host',
    summary: 'listeners',
  },
  {
    name: 'port',
    kind: 'integer',
    arg: 'PORT',
    description: 'TCP port to listen on; 0 picks a free port',
    option: 'port',
    summary: 'listeners',
  },
  {
    name: 'listen',
    kind: 'urls',
    arg: 'URL',
    description:
      'a listener, repeatable: tcp://HOST:PORT, tls://:8443, udp://[::]:8080, unix:///run/echod.sock, each with ?mode=raw&proxy=optional; http://:8081 (HTTP/1.1, h2c with prior knowledge) and https://:8444 (HTTP/2 or HTTP/1.1 by ALPN), both with WebSocket and ?proxy=, on a unix socket as http+unix:///run/echod-http.sock and https+unix:///PATH (ws://, wss:// alike) (env: space-separated); replaces --host/--port',
    option: 'listeners',
    summary: 'listeners',
  },
  {
    name: 'mode',
    kind: { oneOf: MODES },
    arg: 'MODE',
    description: 'line: echo newline-terminated lines; raw: echo every byte (RFC 862)',
    option: 'mode',
    summary: 'listeners',
    appliesTo: BYTE_ECHO,
  },
  {
    name: 'max-line-bytes',
    kind: 'size',
    arg: 'SIZE',
    description: 'longest line accepted, newline included; longer closes the connection',
    option: 'maxLineBytes',
    appliesTo: BYTE_ECHO,
  },
  {
    name: 'max-connections',
    kind: 'integer',
    arg: 'N',
    description: 'open connections at most; more are closed at once (0 = no limit)',
    option: 'maxConnections',
    appliesTo: CONNECTIONS,
  },
  {
    name: 'max-connections-per-ip',
    kind: 'integer',
    arg: 'N',
    description: 'open connections per client address at most (0 = no limit)',
    option: 'maxConnectionsPerIp',
    appliesTo: CONNECTIONS,
  },
  {
    name: 'idle-timeout',
    kind: 'duration',
    arg: 'DURATION',
    description: 'close a connection with no bytes either way for this long (0 = never)',
    option: 'idleTimeoutMs',
    appliesTo: CONNECTIONS,
  },
  {
    name: 'write-stall-timeout',
    kind: 'duration',
    arg: 'DURATION',
    description: 'close a client that takes none of its pending echo for this long (0 = never)',
    option: 'writeStallTimeoutMs',
    appliesTo: CONNECTIONS,
  },
  {
    name: 'drain-timeout',
    kind: 'duration',
    arg: 'DURATION',
    description: 'time a closing connection gets to finish before it is destroyed',
    option: 'drainTimeoutMs',
    appliesTo: CONNECTIONS,
  },
  {
    name: 'shutdown-delay',
    kind: 'duration',
    arg: 'DURATION',
    description: 'on SIGTERM, keep serving this long after /readyz turns 503',
    option: 'shutdownDelayMs',
  },
  {
    name: 'backlog',
    kind: 'integer',
    arg: 'N',
    description: "length of the kernel's accept queue",
    option: 'backlog',
    appliesTo: CONNECTIONS,
  },
  {
    name: 'direct-read',
    kind: 'onOff',
    arg: 'on|off',
    description:
      "on Node, read tcp and unix sockets into one shared buffer (node:net internals, checked at start-up; off: node:net 'data' events)",
    option: 'directRead',
    appliesTo: BYTE_ECHO,
  },
  {
    name: 'proxy-protocol',
    kind: { oneOf: PROXY_PROTOCOL_MODES },
    arg: 'MODE',
    description:
      'expect a PROXY protocol v1/v2 header before the client bytes (tcp, unix and http listeners; tls:// and https:// ones take ?proxy=)',
    shown: 'off',
    summary: 'listeners',
  },
  {
    name: 'proxy-protocol-timeout',
    kind: 'duration',
    arg: 'DURATION',
    description: 'a PROXY header not complete by then closes the connection',
    option: 'proxyProtocolTimeoutMs',
    appliesTo: CONNECTIONS,
  },
  {
    name: 'tls-cert',
    kind: 'string',
    arg: 'FILE',
    description: 'PEM certificate chain for tls:// and https:// listeners (re-read on SIGHUP)',
    option: 'tls.cert',
    summary: 'tls',
  },
  {
    name: 'tls-key',
    kind: 'string',
    arg: 'FILE',
    description: 'PEM private key for tls:// and https:// listeners (re-read on SIGHUP)',
    option: 'tls.key',
    summary: 'tls',
  },
  {
    name: 'tls-ca',
    kind: 'string',
    arg: 'FILE',
    description: 'PEM CA bundle to verify client certificates (mTLS)',
    option: 'tls.ca',
    summary: 'tls',
  },
  {
    name: 'tls-client-auth',
    kind: { oneOf: ['none', 'request', 'require'] },
    arg: 'MODE',
    description: 'ask for (request) or insist on (require) a client certificate',
    shown: 'none',
    option: 'tls.clientAuth',
    summary: 'tls',
  },
  {
    name: 'tls-min-version',
    kind: { oneOf: ['TLSv1.2', 'TLSv1.3'] },
    arg: 'VERSION',
    description: 'oldest TLS version accepted',
    shown: 'TLSv1.2',
    option: 'tls.minVersion',
    summary: 'tls',
  },
  {
    name: 'tls-self-signed',
    kind: 'boolean',
    arg: '',
    description: 'make a self-signed certificate in memory at start-up (tests, labs)',
    option: 'tls.selfSigned',
    summary: 'tls',
  },
  // HTTP bounds and controls (http:// and https:// listeners; docs/http.md).
  {
    name: 'max-body-bytes',
    kind: 'size',
    arg: 'SIZE',
    description: 'largest HTTP request body; larger is answered 413 and the connection closed',
    option: 'http.maxBodyBytes',
  },
  {
    name: 'http-max-header-bytes',
    kind: 'size',
    arg: 'SIZE',
    description: 'largest HTTP request head; larger is answered 431',
    option: 'http.maxHeaderBytes',
  },
  {
    name: 'http-max-headers',
    kind: 'integer',
    arg: 'N',
    description: 'most header fields in one HTTP request; more is answered 431',
    option: 'http.maxHeaders',
  },
  {
    name: 'http-headers-timeout',
    kind: 'duration',
    arg: 'DURATION',
    description: 'an HTTP request head not complete this long after it began is answered 408 and closed (slowloris)',
    option: 'http.headersTimeoutMs',
  },
  {
    name: 'http-request-timeout',
    kind: 'duration',
    arg: 'DURATION',
    description: 'an HTTP request (head and body) not received this long after it began is answered 408 and closed',
    option: 'http.requestTimeoutMs',
  },
  {
    name: 'http-max-requests-per-connection',
    kind: 'integer',
    arg: 'N',
    description: 'requests served on one HTTP connection; the last says Connection: close (HTTP/2: GOAWAY) (0 = no limit)',
    option: 'http.maxRequestsPerConnection',
  },
  {
    name: 'http2-max-streams',
    kind: 'integer',
    arg: 'N',
    description: 'HTTP/2 streams open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS)',
    option: 'http.maxConcurrentStreams',
  },
  {
    name: 'http2-max-resets-per-second',
    kind: 'integer',
    arg: 'N',
    description: 'HTTP/2 stream resets one connection may cause per second; past it GOAWAY and closed (rapid reset)',
    option: 'http.maxStreamResetsPerSecond',
  },
  {
    name: 'http-controls',
    kind: { oneOf: ['on', 'off'] },
    arg: 'on|off',
    description: 'honour the echo controls (?status= ?delay= ?header= ?bytes= ?close= and their x-echo-* headers)',
    option: 'http.controls',
  },
  {
    name: 'http-max-delay',
    kind: 'duration',
    arg: 'DURATION',
    description: 'longest ?delay= a request may ask for; more is answered 400',
    option: 'http.maxDelayMs',
  },
  {
    name: 'http-max-response-bytes',
    kind: 'size',
    arg: 'SIZE',
    description: 'largest ?bytes= body a request may ask for; more is answered 400',
    option: 'http.maxResponseBytes',
  },
  {
    name: 'http-server-header',
    kind: 'string',
    arg: 'NAME',
    description: 'the response header that names the server (its value is --server-id)',
    option: 'http.serverHeader',
  },
  {
    name: 'max-ws-message-bytes',
    kind: 'size',
    arg: 'SIZE',
    description: 'largest WebSocket message; larger is closed with 1009',
    option: 'http.maxWsMessageBytes',
  },
  { name: 'ws-deflate', kind: 'boolean', arg: '', description: 'offer permessage-deflate on WebSocket upgrades', option: 'http.wsDeflate' },
  {
    name: 'udp-rate-per-source',
    kind: 'integer',
    arg: 'N',
    description: 'udp:// datagrams answered per second per source address (0 = no limit)',
    option: 'udpRatePerSource',
    appliesTo: ['udp'],
  },
  {
    name: 'server-id',
    kind: 'string',
    arg: 'NAME',
    description: 'names this server in logs, metrics (server_id label) and /stats',
    shown: 'the host name',
    option: 'serverId',
  },
  {
    name: 'banner',
    kind: 'string',
    arg: 'TEMPLATE',
    description: `a line sent when a connection opens: ${PLACEHOLDER_LIST}`,
    option: 'banner',
    appliesTo: BYTE_ECHO,
  },
  {
    name: 'prefix',
    kind: 'string',
    arg: 'TEMPLATE',
    description: 'put before every echoed line (same placeholders as --banner)',
    option: 'prefix',
    appliesTo: BYTE_ECHO,
  },
  {
    name: 'digest',
    kind: { oneOf: DIGEST_KINDS },
    arg: 'KIND',
    description: "log a digest of each connection's received and sent bytes at close",
    option: 'digest',
    appliesTo: BYTE_ECHO,
  },
  ...FAULTS.map((fault): FlagSpec => ({
    name: fault.name,
    kind: 'fault',
    arg: fault.arg,
    description: `fault${fault.appliesTo.includes('stream') ? '' : ' (udp)'}: ${fault.help}`,
    ...(fault.shown !== undefined ? { shown: fault.shown } : {}),
    summary: 'listeners',
    appliesTo: fault.appliesTo,
  })),
  {
    name: 'workers',
    kind: 'workers',
    arg: 'N|auto',
    description: 'processes sharing the port (auto: one per CPU); a dead one is restarted',
    shown: '1',
    summary: 'workers',
  },
  {
    name: 'admin-host',
    kind: 'string',
    arg: 'ADDR',
    description: 'address of the admin HTTP endpoint (keep it private)',
    shown: '127.0.0.1',
    summary: 'admin',
  },
  {
    name: 'admin-port',
    kind: 'integer',
    arg: 'PORT',
    description: 'serve /metrics, /healthz, /readyz, /stats and /connections on this port (off unless set)',
    summary: 'admin',
  },
  {
    name: 'admin-max-connections',
    kind: 'integer',
    arg: 'N',
    description: 'admin connections at most; at the cap a newcomer evicts the longest-waiting one without a request in progress',
    option: 'admin.maxConnections',
  },
  {
    name: 'admin-headers-timeout',
    kind: 'duration',
    arg: 'DURATION',
    description: 'close an admin connection whose request head is not complete this long after it began',
    option: 'admin.headersTimeoutMs',
  },
  {
    name: 'admin-keep-alive-timeout',
    kind: 'duration',
    arg: 'DURATION',
    description: 'close an idle keep-alive admin connection after this long',
    option: 'admin.keepAliveTimeoutMs',
  },
  {
    name: 'admin-request-timeout',
    kind: 'duration',
    arg: 'DURATION',
    description: 'close an admin connection whose response is not taken this long after its request',
    option: 'admin.requestTimeoutMs',
  },
  {
    name: 'admin-max-header-bytes',
    kind: 'size',
    arg: 'SIZE',
    description: 'largest admin request head; larger is answered 431 and closed',
    option: 'admin.maxHeaderBytes',
  },
  {
    name: 'admin-max-page-size',
    kind: 'integer',
    arg: 'N',
    description: 'most entries in one page of GET /connections (?limit= is capped to it; 100 without it)',
    option: 'admin.maxPageSize',
  },
  {
    name: 'log-level',
    kind: { oneOf: LOG_LEVELS },
    arg: 'LEVEL',
    description: "debug logs each message's size, trace its content",
    shown: 'info',
  },
  {
    name: 'log-format',
    kind: { oneOf: LOG_FORMATS },
    arg: 'FORMAT',
    description: 'auto: pretty on a terminal, JSON lines otherwise',
    shown: 'auto',
  },
];

/** Where the library keeps the defaults of the options flags set, by the option's prefix. */
const OPTION_DEFAULTS: readonly (readonly [prefix: string, defaults: Readonly<Record<string, unknown>>])[] = [
  ['http.', HTTP_DEFAULTS],
  ['admin.', ADMIN_DEFAULTS],
  ['', DEFAULTS],
];

/** The default a flag's row does not state: its option's library default, written as the flag takes it. */
function optionDefaultShown(flag: FlagSpec): string | undefined {
  if (flag.option === undefined) return undefined;
  const option = flag.option;
  const [prefix, defaults] = OPTION_DEFAULTS.find(([start]) => option.startsWith(start)) as (typeof OPTION_DEFAULTS)[number];
  const key = option.slice(prefix.length);
  const value = Object.hasOwn(defaults, key) ? defaults[key] : undefined;
  if (value === undefined || value === '') return undefined;
  return typeof value === 'boolean' || typeof value === 'number' || typeof value === 'string' ? flagText(flag, value) : undefined;
}

/**
 * A flag's value written as the flag takes it and `--help` shows defaults: `64KiB`, `30s`, `on`.
 * So a value and the default it may equal compare as text.
 */
export function flagText(flag: Pick<FlagSpec, 'kind'>, value: FlagValue): string {
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (typeof value === 'number')
    return flag.kind === 'size' ? formatBytes(value) : flag.kind === 'duration' ? formatDurationMs(value) : String(value);
  return Array.isArray(value) ? value.join(' ') : value;
}

/** Every flag, each with the default `--help` shows: as its row states it, else its option's. */
export const FLAGS: readonly FlagSpec[] = FLAG_ROWS.map((flag) => {
  const shown = flag.shown ?? optionDefaultShown(flag);
  const http = flag.appliesTo === undefined && flag.option?.startsWith('http.') === true;
  return { ...flag, ...(shown !== undefined ? { shown } : {}), ...(http ? { appliesTo: ['http'] as const } : {}) };
});

export type FlagValue = string | number | boolean | string[];

export interface ParsedCommandLine {
  help: boolean;
  version: boolean;
  /** `--check-config`: validate everything, print the effective configuration, bind nothing. */
  checkConfig: boolean;
  /** Flag name → typed value, for every flag given on the command line or in the environment. */
  values: Map<string, FlagValue>;
  /** Flag name → where its value came from, as a person would name it: `--port` or `ECHOD_PORT`. */
  sources: Map<string, string>;
  /** Things that are not wrong enough to refuse (an `ECHOD_*` variable no flag reads). */
  warnings: string[];
}

/** The admin endpoint's bounds: AdminServer option → the flag that sets it (the flags whose option is `admin.*`). */
export const ADMIN_LIMIT_FLAGS: Readonly<Record<keyof AdminLimits, string>> = Object.fromEntries(
  FLAGS.flatMap((flag) => (flag.option?.startsWith('admin.') === true ? [[flag.option.slice('admin.'.length), flag.name]] : [])),
) as Record<keyof AdminLimits, string>;

/** The flags whose option is `http.*`: the http and https listeners' bounds and controls. */
export const HTTP_FLAGS: readonly FlagSpec[] = FLAGS.filter((flag) => flag.option?.startsWith('http.') === true);

/** The library's `http` options from the flags and variables given (`--http-controls off` → `controls: false`); undefined when none is. */
export function httpOptionsFrom(values: ReadonlyMap<string, FlagValue>): Record<string, FlagValue> | undefined {
  const given = HTTP_FLAGS.filter((flag) => values.has(flag.name));
  if (given.length === 0) return undefined;
  return Object.fromEntries(
    given.map((flag) => {
      const value = values.get(flag.name) as FlagValue;
      return [
        (flag.option as string).slice('http.'.length),
        typeof flag.kind === 'object' && flag.kind.oneOf.includes('on') ? value === 'on' : value,
      ];
    }),
  );
}

/** The admin bounds given by flags or environment, resolved; a bad one is a UsageError naming its flag. */
export function adminLimitsFrom(values: ReadonlyMap<string, FlagValue>): AdminLimits {
  const given = Object.fromEntries(
    Object.entries(ADMIN_LIMIT_FLAGS).flatMap(([option, flag]) => (values.has(flag) ? [[option, values.get(flag)]] : [])),
  );
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

/**
 * `ECHOD_*` variables echod reads or sets besides its flags' (set by the primary for its
 * workers), so that they are not reported as unknown.
 */
const OTHER_ENV: readonly string[] = ['ECHOD_WORKER_PORT', 'ECHOD_WORKER_INDEX'];

/** A value that starts with a dash yet is meant as a value: `-1`, `-5`, `-0.5`. */
const NEGATIVE_NUMBER = /^-[\d.]/;

/** Reads flags, then `ECHOD_*` variables for the flags not given; flags win. */
export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv): ParsedCommandLine {
  const takesValue = new Set(FLAGS.filter((flag) => flag.kind !== 'boolean' && flag.arg !== '').map((flag) => `--${flag.name}`));
  const args = joinNegativeValues(argv, takesValue);
  const options = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'v' },
    'check-config': { type: 'boolean' },
    ...Object.fromEntries(
      FLAGS.map(
        (flag) =>
          [flag.name, { type: flag.kind === 'boolean' || flag.arg === '' ? 'boolean' : 'string', multiple: flag.kind === 'urls' }] as const,
      ),
    ),
  } as const satisfies NonNullable<Parameters<typeof parseArgs>[0]>['options'];
  checkFlagTokens(args, options, (name) => FLAGS.find((flag) => flag.name === name)?.arg ?? 'VALUE');
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, strict: true, allowPositionals: true, options });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const stray = parsed.positionals[0];
  if (stray !== undefined) {
    // A command comes first (main.ts dispatches it); a word after a flag is a value without its flag.
    throw new UsageError(
      `unexpected argument '${stray}': echod takes flags (a switch such as --ws-deflate takes no value), and a command comes first (${COMMANDS.map((command) => command.name).join(', ')})`,
    );
  }
  const values = new Map<string, FlagValue>();
  const sources = new Map<string, string>();
  for (const flag of FLAGS) {
    const given = parsed.values[flag.name];
    const fromEnv = env[envName(flag.name)];
    const source = given !== undefined ? `--${flag.name}` : envName(flag.name);
    const raw = given !== undefined ? given : fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined;
    if (raw === undefined) continue;
    const value = convert(flag, raw, source);
    // A boolean set to false (ECHOD_TLS_SELF_SIGNED=false) is as if it were not given; `off` is a value.
    if (value === false && flag.kind !== 'onOff') continue;
    values.set(flag.name, value);
    sources.set(flag.name, source);
  }
  return {
    help: parsed.values.help === true,
    version: parsed.values.version === true,
    checkConfig: parsed.values['check-config'] === true,
    values,
    sources,
    warnings: unknownEnvWarnings(env),
  };
}

/** `--port -1` → `--port=-1`: node:util would take `-1` for a flag and call it ambiguous. */
function joinNegativeValues(argv: readonly string[], takesValue: ReadonlySet<string>): string[] {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const next = argv[i + 1];
    if (takesValue.has(arg) && next !== undefined && NEGATIVE_NUMBER.test(next)) {
      args.push(`${arg}=${next}`);
      i++;
    } else args.push(arg);
  }
  return args;
}

function unknownEnvWarnings(env: NodeJS.ProcessEnv): string[] {
  const known = new Set([...FLAGS.map((flag) => envName(flag.name)), ...OTHER_ENV]);
  return Object.keys(env)
    .filter((name) => name.startsWith('ECHOD_') && !known.has(name))
    .map((name) => {
      const near = nearestSpelling(name, known);
      return `${name} is not a variable echod reads${near !== undefined ? ` (did you mean ${near}?)` : ''}; it is ignored`;
    });
}

/** The spellings every boolean flag and variable accepts. */
function parseBoolean(text: string): boolean | undefined {
  if (text === '' || /^(1|true|yes|on)$/i.test(text)) return true;
  if (/^(0|false|no|off)$/i.test(text)) return false;
  return undefined;
}

function convert(flag: FlagSpec, raw: string | boolean | (string | boolean)[], source: string): FlagValue {
  if (flag.kind === 'urls') {
    // Repeatable on the command line; space-separated in the environment.
    const items = Array.isArray(raw)
      ? raw.map(String)
      : String(raw)
          .split(/\s+/)
          .filter((item) => item !== '');
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
    if (flag.arg === '') {
      // A switch (--accept-then-hang): the same spellings as every boolean.
      const on = typeof raw === 'boolean' ? raw : parseBoolean(text);
      return on ?? bad('true or false');
    }
    // Checked here so a bad value exits 2 naming the flag; the listeners get the parsed form.
    try {
      parseFault(flag.name, text);
    } catch (err) {
      if (err instanceof FaultOptionError) throw new UsageError(`invalid ${source}: ${err.message}`);
      throw err;
    }
    return text;
  }
  if (kind === 'boolean') {
    if (typeof raw === 'boolean') return raw;
    return parseBoolean(text) ?? bad('true or false');
  }
  if (kind === 'onOff') return text === 'on' ? true : text === 'off' ? false : bad('on or off');
  if (kind === 'integer') return /^\d+$/.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : bad('a whole number ≥ 0');
  if (kind === 'size') return parseBytes(text) ?? bad('a size such as 65536, 64KiB or 1MiB');
  if (kind === 'workers') {
    if (text === 'auto') return availableParallelism();
    return /^\d+$/.test(text) && Number(text) >= 1 && Number(text) <= MAX_WORKERS
      ? Number(text)
      : bad(`auto or a whole number from 1 to ${MAX_WORKERS}`);
  }
  if (kind === 'duration') return parseDurationMs(text) ?? bad('a duration such as 500ms, 30s or 5m, or 0');
  return kind.oneOf.includes(text) ? text : bad(kind.oneOf.join(', '));
}

/** `echod 0.1.0 (node v20.11.1)` or `echod 0.1.0 (bun 1.1.8)`: what --version prints. */
export function versionLine(version: string): string {
  const bun = process.versions.bun;
  return `echod ${version} (${bun !== undefined ? `bun ${bun}` : `node ${process.version}`})`;
}

/** A flag's `--help` line: what it does, its values when they are a fixed list, default, variable. */
function helpRight(flag: FlagSpec): string {
  const values = typeof flag.kind === 'object' ? ` (${flag.kind.oneOf.join(', ')})` : '';
  return `${flag.description}${values}${flag.shown !== undefined ? ` [default: ${flag.shown}]` : ''} [env: ${envName(flag.name)}]`;
}

export function helpText(version: string): string {
  const lefts = FLAGS.map((flag) => `  --${flag.name}${flag.arg === '' ? '' : ` ${flag.arg}`}`);
  // As wide as the longest flag and its placeholder, so every description starts in one column.
  const width = Math.max(...lefts.map((left) => left.length)) + 2;
  const rows = FLAGS.map((flag, index) => `${(lefts[index] as string).padEnd(width)}${helpRight(flag)}`);
  const usages = [
    ['echod [flags]', 'serve'],
    ...COMMANDS.map((command) => [`echod ${command.name} ${command.arg}`, command.description]),
  ] as const;
  const usageWidth = Math.max(...usages.map(([left]) => left.length)) + 2;
  return [
    `${versionLine(version)} - a TCP echo server: every line (or, in raw mode, every byte) comes back as sent.`,
    '',
    ...usages.map(([left, right], index) => `${index === 0 ? 'Usage: ' : '       '}${left.padEnd(usageWidth)}${right}`),
    '',
    'Flags (each can also be set by its environment variable; a flag wins over the variable):',
    ...rows,
    `${'  --check-config'.padEnd(width)}check flags, environment, listeners, TLS files and templates, print the effective configuration, bind nothing; exit 0 or 2 (also: echod config check)`,
    `${'  -h, --help'.padEnd(width)}show this help`,
    `${'  -v, --version'.padEnd(width)}print the version and the runtime`,
    '',
    'Sizes: 65536, 64KiB, 1MiB, 1MB. Durations: 500ms, 30s, 5m, 1h, or 0 for off.',
    'Signals: SIGTERM or SIGINT drains and exits 0; a second one exits at once. SIGHUP re-reads the TLS files.',
    'systemd socket activation: listening sockets passed in LISTEN_FDS are served (stream sockets).',
    '',
    'Examples:',
    '  echod --port 7000',
    '  echod --listen tcp://:8080 --listen udp://:8080 --listen tls://:8443 --tls-self-signed',
    '  echod --listen "tcp://[::]:7000?mode=raw&proxy=optional"',
    '  echod --listen http://:8081 --listen https://:8444 --tls-self-signed --max-body-bytes 1MiB',
    '  ECHOD_MAX_LINE_BYTES=64KiB echod --idle-timeout 30s --admin-port 9090',
    '  printf "hello\\n" | nc -w1 127.0.0.1 8080   # -w1: works with OpenBSD nc and Ncat',
  ].join('\n');
}
