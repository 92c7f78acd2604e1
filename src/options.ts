/**
 * The server's options: one typed object with documented defaults, resolved and validated
 * once at the boundary (library and CLI alike). Code past `resolveOptions()` trusts them.
 */
import { isIP } from 'node:net';
import { InvalidOptionError } from './errors.js';
import { type Logger, silentLogger } from './log.js';

export type EchoMode = 'line' | 'raw';

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
  /** Let several processes bind the same port (SO_REUSEPORT; Bun only, for --workers). @default false */
  reusePort?: boolean;
  /** `auto`: Bun.listen when running under Bun, node:net otherwise; `node`: node:net always. @default 'auto' */
  transport?: 'auto' | 'node';
  /** Where to log (pino or anything with its methods). @default a logger that logs nothing */
  logger?: Logger;
}

export type ResolvedOptions = Required<EchoServerOptions>;

export const DEFAULTS: Readonly<Omit<ResolvedOptions, 'logger'>> = Object.freeze({
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
  transport: 'auto',
  reusePort: false,
});

const MODES: readonly EchoMode[] = ['line', 'raw'];
/** Node's timers hold at most 2^31-1 ms (about 24.8 days); longer ones fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const KNOWN = new Set<string>([...Object.keys(DEFAULTS), 'logger']);

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
  const merged = { ...DEFAULTS, logger: silentLogger, ...stripUndefined(options) };

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
  if (merged.transport !== 'auto' && merged.transport !== 'node') throw new InvalidOptionError('transport', merged.transport, 'auto or node');
  if (typeof merged.reusePort !== 'boolean') throw new InvalidOptionError('reusePort', merged.reusePort, 'true or false');
  if (typeof merged.noDelay !== 'boolean') throw new InvalidOptionError('noDelay', merged.noDelay, 'true or false');
  const { logger } = merged;
  if (typeof logger !== 'object' || logger === null || typeof logger.info !== 'function' || typeof logger.isLevelEnabled !== 'function') {
    throw new InvalidOptionError('logger', logger, 'a pino-compatible logger');
  }
  return merged;
}

function integer(option: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(option, value, `an integer from ${min} to ${max}`);
  }
}

function isHostname(host: string): boolean {
  return /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(host);
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
