/**
 * The bounds of the http:// and https:// listeners (and their WebSocket upgrades): one typed
 * object with documented defaults, resolved and checked once like the server's own options.
 */
import { InvalidOptionError } from '../core/errors.js';
import { MAX_TIMER_MS } from '../core/units.js';

export interface HttpOptions {
  /** Honour the echo controls (`?status=`, `?delay=`, `?header=`, `?bytes=`, `?close=` and their `x-echo-*` headers). @default true */
  controls?: boolean;
  /** Longest `?delay=` a request may ask for; more is answered 400. @default 10000 */
  maxDelayMs?: number;
  /** Largest `?bytes=` body a request may ask for; more is answered 400. @default 104857600 (100 MiB) */
  maxResponseBytes?: number;
  /** Largest request body; a longer one is answered 413 and its connection closed. @default 10485760 (10 MiB) */
  maxBodyBytes?: number;
  /** Largest request head (request line and headers); larger is answered 431. @default 16384 */
  maxHeaderBytes?: number;
  /** Most header fields in one request; more is answered 431. @default 100 */
  maxHeaders?: number;
  /** A request head not complete this long after it began is answered 408 and closed (slowloris). @default 10000 */
  headersTimeoutMs?: number;
  /** A request (head and body) not received this long after it began is answered 408 and closed. @default 60000 */
  requestTimeoutMs?: number;
  /** Requests served on one connection; the last is answered with `Connection: close` (HTTP/2: GOAWAY). 0 = no limit. @default 10000 */
  maxRequestsPerConnection?: number;
  /** HTTP/2 streams open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS). @default 100 */
  maxConcurrentStreams?: number;
  /**
   * HTTP/2 streams one connection may have reset (by either side) in one second; past it the
   * connection gets GOAWAY (ENHANCE_YOUR_CALM) and is closed: rapid reset (CVE-2023-44487). @default 200
   */
  maxStreamResetsPerSecond?: number;
  /** Largest WebSocket message; a larger one is closed with 1009. @default 1048576 */
  maxWsMessageBytes?: number;
  /** Offer permessage-deflate on WebSocket upgrades. @default false */
  wsDeflate?: boolean;
  /** The response header naming the server that answered (its value is `serverId`). @default 'x-echod-server' */
  serverHeader?: string;
}

export type ResolvedHttpOptions = Required<HttpOptions>;

export const HTTP_DEFAULTS: Readonly<ResolvedHttpOptions> = Object.freeze({
  controls: true,
  maxDelayMs: 10_000,
  maxResponseBytes: 100 * 1024 * 1024,
  maxBodyBytes: 10 * 1024 * 1024,
  maxHeaderBytes: 16 * 1024,
  maxHeaders: 100,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  maxRequestsPerConnection: 10_000,
  maxConcurrentStreams: 100,
  maxStreamResetsPerSecond: 200,
  maxWsMessageBytes: 1024 * 1024,
  wsDeflate: false,
  serverHeader: 'x-echod-server',
});

/** An HTTP token (RFC 9110 §5.6.2): what a header name may be. */
export const HEADER_NAME_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Fills in defaults and checks every value; throws InvalidOptionError naming `http.<field>`. */
export function resolveHttpOptions(given: unknown): ResolvedHttpOptions {
  if (given === undefined) return { ...HTTP_DEFAULTS };
  if (typeof given !== 'object' || given === null) throw new InvalidOptionError('http', given, 'an object');
  for (const key of Object.keys(given)) {
    if (!(key in HTTP_DEFAULTS)) throw new InvalidOptionError(`http.${key}`, (given as Record<string, unknown>)[key], 'a known option');
  }
  const defined = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined));
  const http = { ...HTTP_DEFAULTS, ...defined } as ResolvedHttpOptions;
  for (const field of ['controls', 'wsDeflate'] as const) {
    if (typeof http[field] !== 'boolean') throw new InvalidOptionError(`http.${field}`, http[field], 'true or false');
  }
  integer('maxDelayMs', http.maxDelayMs, 0, MAX_TIMER_MS);
  integer('maxResponseBytes', http.maxResponseBytes, 0, Number.MAX_SAFE_INTEGER);
  integer('maxBodyBytes', http.maxBodyBytes, 0, Number.MAX_SAFE_INTEGER);
  integer('maxHeaderBytes', http.maxHeaderBytes, 1024, 1024 * 1024);
  integer('maxHeaders', http.maxHeaders, 1, 10_000);
  integer('headersTimeoutMs', http.headersTimeoutMs, 1, MAX_TIMER_MS);
  integer('requestTimeoutMs', http.requestTimeoutMs, 1, MAX_TIMER_MS);
  if (http.requestTimeoutMs < http.headersTimeoutMs)
    throw new InvalidOptionError(
      'http.requestTimeoutMs',
      http.requestTimeoutMs,
      `at least http.headersTimeoutMs (${http.headersTimeoutMs})`,
    );
  integer('maxRequestsPerConnection', http.maxRequestsPerConnection, 0, Number.MAX_SAFE_INTEGER);
  integer('maxConcurrentStreams', http.maxConcurrentStreams, 1, 2 ** 31 - 1);
  integer('maxStreamResetsPerSecond', http.maxStreamResetsPerSecond, 1, 1_000_000);
  // ws keeps a message whole in memory: 1 GiB is already far past any sensible echo.
  integer('maxWsMessageBytes', http.maxWsMessageBytes, 1, 2 ** 30);
  if (typeof http.serverHeader !== 'string' || !HEADER_NAME_RE.test(http.serverHeader)) {
    throw new InvalidOptionError('http.serverHeader', http.serverHeader, 'a header name');
  }
  return { ...http, serverHeader: http.serverHeader.toLowerCase() };
}

function integer(field: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(`http.${field}`, value, `an integer from ${min} to ${max}`);
  }
}
