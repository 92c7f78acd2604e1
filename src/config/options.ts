/**
 * The server's options: one typed object with documented defaults, resolved and validated
 * once at the boundary (library and CLI alike). Code past `resolveOptions()` trusts them.
 */
import { isIP } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import { hostname } from 'node:os';
import { InvalidOptionError } from '../core/errors.js';
import {
  HTTP_PROTOCOLS,
  type ListenerOptions,
  type ListenerProtocol,
  PROXY_PROTOCOL_MODES,
  type ProxyProtocolMode,
  TLS_PROTOCOLS,
} from './listen-url.js';
import { type HttpOptions, type ResolvedHttpOptions, resolveHttpOptions } from './http-options.js';
import { DIGEST_KINDS, type DigestKind } from '../core/digest.js';
import { checkFaults, checkInteger as integer, type FaultOptions, HTTP_FAULTS, refusedOnHttp } from './faults.js';
import { type Logger, silentLogger } from '../core/log.js';
import { PLACEHOLDER_LIST, unknownPlaceholders } from '../core/template.js';
import { MAX_TIMER_MS } from '../core/units.js';

export type EchoMode = 'line' | 'raw';

export interface TlsOptions {
  /** PEM certificate chain (reload with `server.reloadTls()`). */
  cert?: string | Buffer;
  /** PEM private key. */
  key?: string | Buffer;
  /** PEM CA bundle to verify client certificates against (mTLS). */
  ca?: string | Buffer;
  /** `request`: ask for a client certificate; `require`: refuse a client without a valid one. @default 'none' */
  clientAuth?: 'none' | 'request' | 'require';
  /** @default 'TLSv1.2' */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** Make a self-signed certificate in memory at listen() (for tests and labs). @default false */
  selfSigned?: boolean;
}

/** A listener with every field decided. */
export interface ResolvedListener {
  protocol: ListenerProtocol;
  host: string;
  port: number;
  path: string;
  mode: EchoMode;
  proxyProtocol: ProxyProtocolMode;
  fd: number | null;
  /** Faults on this listener (see FaultOptions), or null for plain echo. */
  faults: FaultOptions | null;
}

/** TLS settings as a transport takes them: a secure context and the client-certificate policy. */
export interface TlsSettings {
  context: SecureContextOptions;
  requestCert: boolean;
  rejectUnauthorized: boolean;
}

export interface ResolvedTls {
  cert: string | Buffer | null;
  key: string | Buffer | null;
  ca: string | Buffer | null;
  clientAuth: 'none' | 'request' | 'require';
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  selfSigned: boolean;
}

export interface EchoServerOptions {
  /** Address to listen on; `::` serves IPv4 and IPv6. @default '0.0.0.0' */
  host?: string;
  /** TCP port; 0 picks a free one (see the address `listen()` resolves to). @default 8080 */
  port?: number;
  /** `line`: echo newline-terminated lines; `raw`: echo every byte as it arrives (RFC 862). @default 'line' */
  mode?: EchoMode;
  /** Longest line accepted, newline included; a longer one closes the connection (`line_too_long`). @default 1048576 */
  maxLineBytes?: number;
  /** Open connections at most; one more is closed at once (`max_connections`). 0 = no limit. @default 10000 */
  maxConnections?: number;
  /** Open connections per client address at most (`max_connections_per_ip`). 0 = no limit. @default 0 */
  maxConnectionsPerIp?: number;
  /** Close a connection with no bytes either way for this long (`idle_timeout`). 0 = never. @default 300000 */
  idleTimeoutMs?: number;
  /** Close a client that has not taken pending output for this long (`write_stalled`). 0 = never. @default 30000 */
  writeStallTimeoutMs?: number;
  /** On close(): how long connections get to finish before they are destroyed. @default 10000 */
  drainTimeoutMs?: number;
  /** On close(): keep serving and accepting this long after readiness turns false. @default 0 */
  shutdownDelayMs?: number;
  /** Length of the kernel's accept queue (capped by net.core.somaxconn). @default 4096 */
  backlog?: number;
  /** Disable Nagle's algorithm so each echo leaves at once. @default true */
  noDelay?: boolean;
  /**
   * On Node, read tcp and unix listeners' sockets into one shared buffer rather than through
   * 'data' events (less CPU per message). It relies on node:net internals, checked at start-up;
   * where they differ echod logs a warning and reads as usual. False: always as usual.
   * @default true
   */
  directRead?: boolean;
  /**
   * Let several processes bind the same port (SO_REUSEPORT, for --workers): tcp listeners under
   * Bun, and tcp and tls listeners on Node 22.12 and later (Linux, FreeBSD), where a cluster
   * worker then binds the port itself instead of taking connections from the primary. Ignored
   * elsewhere. @default false
   */
  reusePort?: boolean;
  /** `auto`: Bun.listen when running under Bun, node:net otherwise; `node`: node:net always. @default 'auto' */
  transport?: 'auto' | 'node';
  /**
   * Every listener (tcp, tls, udp, unix), each with its own mode and PROXY protocol setting.
   * @default one TCP listener on `host`:`port`
   */
  listeners?: ListenerOptions[];
  /** How long a PROXY protocol header may take to arrive (`proxy_protocol_error`). @default 5000 */
  proxyProtocolTimeoutMs?: number;
  /** Certificates for tls and https listeners. */
  tls?: TlsOptions;
  /** Bounds and controls of http and https listeners (see docs/http.md). */
  http?: HttpOptions;
  /** UDP: datagrams answered per second per source address at most; the rest are dropped. 0 = no limit. @default 1000 */
  udpRatePerSource?: number;
  /** Names this server in logs, metrics (`server_id`) and /stats. @default the host name */
  serverId?: string;
  /** A line sent when a connection opens (template: {hostname}, {conn_id}, {remote}, …). @default '' (none) */
  banner?: string;
  /** Put before every echoed line (line mode; template as banner). @default '' (none) */
  prefix?: string;
  /** Log a digest of each connection's received and sent bytes at close. @default 'off' */
  digest?: DigestKind;
  /** Where to log (pino or anything with its methods). @default a logger that logs nothing */
  logger?: Logger;
}

export type ResolvedOptions = Omit<Required<EchoServerOptions>, 'listeners' | 'tls' | 'http'> & {
  listeners: ResolvedListener[];
  tls: ResolvedTls | null;
  http: ResolvedHttpOptions;
};

/** What every option takes when left out; `serverId` (the host name) is read by resolveOptions, not at import. */
export const DEFAULTS: Readonly<Omit<ResolvedOptions, 'logger' | 'listeners' | 'tls' | 'http' | 'serverId'>> = Object.freeze({
  host: '0.0.0.0',
  port: 8080,
  mode: 'line',
  maxLineBytes: 1024 * 1024,
  maxConnections: 10_000,
  maxConnectionsPerIp: 0,
  idleTimeoutMs: 300_000,
  writeStallTimeoutMs: 30_000,
  drainTimeoutMs: 10_000,
  shutdownDelayMs: 0,
  backlog: 4096,
  noDelay: true,
  directRead: true,
  transport: 'auto',
  reusePort: false,
  proxyProtocolTimeoutMs: 5000,
  udpRatePerSource: 1000,
  banner: '',
  prefix: '',
  digest: 'off',
});

export const MODES: readonly EchoMode[] = ['line', 'raw'];

/** `serverId` when none is given: the host name. */
export function defaultServerId(): string {
  return hostname();
}
const KNOWN = new Set<string>([...Object.keys(DEFAULTS), 'serverId', 'logger', 'listeners', 'tls', 'http']);
const PROTOCOLS: readonly ListenerProtocol[] = ['tcp', 'tls', 'udp', 'unix', 'http', 'https'];

/**
 * Fills in defaults and checks every value. Throws {@link InvalidOptionError} (code
 * `ERR_ECHOD_INVALID_OPTION`) naming the first bad option; unknown options are refused too,
 * since a misspelt limit that silently does nothing is worse than an error.
 */
export function resolveOptions(options: EchoServerOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', options, 'an object');
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw new InvalidOptionError(key, (options as Record<string, unknown>)[key], 'a known option');
  }
  const { listeners: listenerOptions, tls: tlsOptions, http: httpOptions, ...rest } = options;
  const merged = { ...DEFAULTS, serverId: defaultServerId(), logger: silentLogger, ...stripUndefined(rest) };

  if (typeof merged.host !== 'string' || (merged.host !== 'localhost' && isIP(merged.host) === 0 && !isHostname(merged.host))) {
    throw new InvalidOptionError('host', merged.host, 'an IP address or host name');
  }
  integer('port', merged.port, 0, 65_535);
  if (!MODES.includes(merged.mode)) throw new InvalidOptionError('mode', merged.mode, MODES.join(' or '));
  integer('maxLineBytes', merged.maxLineBytes, 1, 2 ** 30);
  integer('maxConnections', merged.maxConnections, 0, Number.MAX_SAFE_INTEGER);
  integer('maxConnectionsPerIp', merged.maxConnectionsPerIp, 0, Number.MAX_SAFE_INTEGER);
  integer('idleTimeoutMs', merged.idleTimeoutMs, 0, MAX_TIMER_MS);
  integer('writeStallTimeoutMs', merged.writeStallTimeoutMs, 0, MAX_TIMER_MS);
  integer('drainTimeoutMs', merged.drainTimeoutMs, 0, MAX_TIMER_MS);
  integer('shutdownDelayMs', merged.shutdownDelayMs, 0, MAX_TIMER_MS);
  integer('backlog', merged.backlog, 1, 65_535);
  if (merged.transport !== 'auto' && merged.transport !== 'node')
    throw new InvalidOptionError('transport', merged.transport, 'auto or node');
  if (typeof merged.reusePort !== 'boolean') throw new InvalidOptionError('reusePort', merged.reusePort, 'true or false');
  if (typeof merged.noDelay !== 'boolean') throw new InvalidOptionError('noDelay', merged.noDelay, 'true or false');
  if (typeof merged.directRead !== 'boolean') throw new InvalidOptionError('directRead', merged.directRead, 'true or false');
  const { logger } = merged;
  if (typeof logger !== 'object' || logger === null || typeof logger.info !== 'function' || typeof logger.isLevelEnabled !== 'function') {
    throw new InvalidOptionError('logger', logger, 'a pino-compatible logger');
  }
  integer('proxyProtocolTimeoutMs', merged.proxyProtocolTimeoutMs, 1, MAX_TIMER_MS);
  integer('udpRatePerSource', merged.udpRatePerSource, 0, Number.MAX_SAFE_INTEGER);
  if (typeof merged.serverId !== 'string' || merged.serverId === '' || merged.serverId.length > 253)
    throw new InvalidOptionError('serverId', merged.serverId, 'a non-empty name');
  for (const field of ['banner', 'prefix'] as const) {
    const value = merged[field];
    if (typeof value !== 'string') throw new InvalidOptionError(field, value, 'a template string');
    const unknown = unknownPlaceholders(value);
    if (unknown.length > 0)
      throw new InvalidOptionError(field, value, `only the placeholders ${PLACEHOLDER_LIST}; not ${unknown.join(', ')}`);
  }
  if (!DIGEST_KINDS.includes(merged.digest)) throw new InvalidOptionError('digest', merged.digest, DIGEST_KINDS.join(', '));
  const listeners = resolveListeners(listenerOptions, merged);
  const tls = resolveTls(tlsOptions, listeners);
  const http = resolveHttpOptions(httpOptions);
  return { ...merged, listeners, tls, http };
}

function resolveListeners(given: unknown, server: { host: string; port: number; mode: EchoMode }): ResolvedListener[] {
  if (given === undefined) {
    return [
      { protocol: 'tcp', host: server.host, port: server.port, path: '', mode: server.mode, proxyProtocol: 'off', fd: null, faults: null },
    ];
  }
  if (!Array.isArray(given) || given.length === 0) throw new InvalidOptionError('listeners', given, 'a non-empty array of listeners');
  return given.map((item: unknown, index) => {
    const name = `listeners[${index}]`;
    if (typeof item !== 'object' || item === null) throw new InvalidOptionError(name, item, 'an object');
    const listener = item as ListenerOptions;
    const protocol = listener.protocol ?? 'tcp';
    if (!PROTOCOLS.includes(protocol)) throw new InvalidOptionError(`${name}.protocol`, protocol, PROTOCOLS.join(', '));
    const host = listener.host ?? server.host;
    if (typeof host !== 'string' || (host !== 'localhost' && isIP(host) === 0 && !isHostname(host))) {
      throw new InvalidOptionError(`${name}.host`, host, 'an IP address or host name');
    }
    const port = listener.port ?? server.port;
    integer(`${name}.port`, port, 0, 65_535);
    const path = listener.path ?? '';
    const http = HTTP_PROTOCOLS.includes(protocol);
    // http and https listeners bind a unix socket when given a path (http+unix://), else host and port.
    if ((protocol === 'unix' || (http && path !== '')) && (typeof path !== 'string' || !path.startsWith('/')))
      throw new InvalidOptionError(`${name}.path`, path, 'an absolute path');
    if (path !== '' && protocol !== 'unix' && !http)
      throw new InvalidOptionError(
        `${name}.path`,
        path,
        `unset (a ${protocol} listener has a host and port; paths are for unix, http and https)`,
      );
    const mode = listener.mode ?? server.mode;
    if (!MODES.includes(mode)) throw new InvalidOptionError(`${name}.mode`, mode, MODES.join(' or '));
    const proxyProtocol = listener.proxyProtocol ?? 'off';
    if (!PROXY_PROTOCOL_MODES.includes(proxyProtocol) || (protocol === 'udp' && proxyProtocol !== 'off')) {
      throw new InvalidOptionError(
        `${name}.proxyProtocol`,
        proxyProtocol,
        protocol === 'udp' ? 'off (udp)' : PROXY_PROTOCOL_MODES.join(', '),
      );
    }
    const fd = listener.fd ?? null;
    if (fd !== null) integer(`${name}.fd`, fd, 3, 65_535);
    const faults = listener.faults ?? null;
    if (faults !== null) checkFaults(`${name}.faults`, faults);
    if (http) checkHttpListener(name, faults);
    return { protocol, host, port, path, mode, proxyProtocol, fd, faults };
  });
}

/** What http listeners do not take: every fault the table does not apply to http, and the values it gives no HTTP meaning. */
function checkHttpListener(name: string, faults: FaultOptions | null): void {
  const other = Object.keys(faults ?? {}).find((field) => !HTTP_FAULTS.some((fault) => fault.option === field));
  if (other !== undefined) {
    const allowed = HTTP_FAULTS.map((fault) => fault.option).join(', ');
    throw new InvalidOptionError(
      `${name}.faults.${other}`,
      (faults as Record<string, unknown>)[other],
      `unset (http listeners take ${allowed} only)`,
    );
  }
  for (const spec of HTTP_FAULTS) {
    const refused = faults === null ? null : refusedOnHttp(spec, faults);
    if (refused !== null)
      throw new InvalidOptionError(`${name}.faults.${spec.option}`, faults?.[spec.option], `a value with an HTTP meaning: ${refused}`);
  }
}

function resolveTls(given: TlsOptions | undefined, listeners: readonly ResolvedListener[]): ResolvedTls | null {
  const needed = listeners.some((listener) => TLS_PROTOCOLS.includes(listener.protocol));
  if (given === undefined) {
    if (needed) throw new InvalidOptionError('tls', given, 'certificates (cert and key, or selfSigned) for the tls listener');
    return null;
  }
  if (typeof given !== 'object' || given === null) throw new InvalidOptionError('tls', given, 'an object');
  const tls: ResolvedTls = {
    cert: given.cert ?? null,
    key: given.key ?? null,
    ca: given.ca ?? null,
    clientAuth: given.clientAuth ?? 'none',
    minVersion: given.minVersion ?? 'TLSv1.2',
    selfSigned: given.selfSigned ?? false,
  };
  for (const field of ['cert', 'key', 'ca'] as const) {
    const value = tls[field];
    if (value !== null && typeof value !== 'string' && !Buffer.isBuffer(value))
      throw new InvalidOptionError(`tls.${field}`, value, 'PEM text');
  }
  if (!['none', 'request', 'require'].includes(tls.clientAuth))
    throw new InvalidOptionError('tls.clientAuth', tls.clientAuth, 'none, request or require');
  if (tls.minVersion !== 'TLSv1.2' && tls.minVersion !== 'TLSv1.3')
    throw new InvalidOptionError('tls.minVersion', tls.minVersion, 'TLSv1.2 or TLSv1.3');
  if (typeof tls.selfSigned !== 'boolean') throw new InvalidOptionError('tls.selfSigned', tls.selfSigned, 'true or false');
  if (!tls.selfSigned && (tls.cert === null || tls.key === null))
    throw new InvalidOptionError('tls', 'no certificate', 'cert and key, or selfSigned: true');
  if (tls.clientAuth !== 'none' && tls.ca === null)
    throw new InvalidOptionError('tls.ca', null, 'a CA bundle to verify client certificates against');
  return tls;
}

function isHostname(host: string): boolean {
  return /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(host);
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
