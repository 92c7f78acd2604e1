/**
 * The admin endpoint's bounds: one typed object with documented defaults, resolved and
 * validated once (library and CLI alike). Each bound closes or refuses with a reason of its own
 * (see ADMIN_CLOSE_REASONS), counted in `echod_admin_connections_closed_total`.
 */
import { InvalidOptionError } from '../core/errors.js';
import { MAX_TIMER_MS } from '../core/units.js';

export interface AdminLimitOptions {
  /**
   * Admin connections open at most. At the cap a newcomer evicts the connection that has waited
   * longest without a request in progress (idle, half a head, or a response the peer does not
   * take); only when every one is mid-request is it refused. @default 64
   */
  maxConnections?: number;
  /** A request head (request line and headers) not complete this long after it began closes the connection (`headers_timeout`). @default 5000 */
  headersTimeoutMs?: number;
  /** A keep-alive connection with no new request this long after a response closes (`keep_alive_timeout`). @default 5000 */
  keepAliveTimeoutMs?: number;
  /** From a complete head until its response is handed to the kernel; longer closes the connection (`request_timeout`). @default 10000 */
  requestTimeoutMs?: number;
  /** Largest request head accepted; a larger one is answered 431 and closed (`header_too_large`). @default 8192 */
  maxHeaderBytes?: number;
  /** Most entries one page of `GET /connections` holds (`?limit=` is capped to it). @default 1000 */
  maxPageSize?: number;
}

export type AdminLimits = Required<AdminLimitOptions>;

export const ADMIN_DEFAULTS: Readonly<AdminLimits> = Object.freeze({
  maxConnections: 64,
  headersTimeoutMs: 5000,
  keepAliveTimeoutMs: 5000,
  requestTimeoutMs: 10_000,
  maxHeaderBytes: 8192,
  maxPageSize: 1000,
});

/** A page of `GET /connections` without `?limit=` holds this many entries (or maxPageSize, if less). */
export const DEFAULT_PAGE_SIZE = 100;

/** Why the admin endpoint closed or refused a connection: the label of echod_admin_connections_closed_total. */
export const ADMIN_CLOSE_REASONS = [
  'client_closed',
  'done',
  'headers_timeout',
  'keep_alive_timeout',
  'request_timeout',
  'header_too_large',
  'bad_request',
  'evicted',
  'refused',
  'error',
  'shutdown',
] as const;
export type AdminCloseReason = (typeof ADMIN_CLOSE_REASONS)[number];

const RANGES: Readonly<Record<keyof AdminLimits, readonly [min: number, max: number]>> = {
  maxConnections: [1, 65_535],
  headersTimeoutMs: [1, MAX_TIMER_MS],
  keepAliveTimeoutMs: [1, MAX_TIMER_MS],
  requestTimeoutMs: [1, MAX_TIMER_MS],
  // Below this a plain `GET /metrics` from a browser would not fit.
  maxHeaderBytes: [1024, 1024 * 1024],
  maxPageSize: [1, 1_000_000],
};

/** Fills in defaults and checks each bound; throws InvalidOptionError naming the first bad one. */
export function resolveAdminLimits(options: AdminLimitOptions = {}): AdminLimits {
  const resolved = { ...ADMIN_DEFAULTS };
  for (const [key, [min, max]] of Object.entries(RANGES) as [keyof AdminLimits, readonly [number, number]][]) {
    const value: unknown = options[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new InvalidOptionError(key, value, `an integer from ${min} to ${max}`);
    }
    resolved[key] = value;
  }
  return Object.freeze(resolved);
}
