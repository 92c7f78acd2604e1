/**
 * The echo controls a request may carry, by query parameter or `x-echo-*` header: parsed and
 * checked against their bounds here, purely, before anything is answered. A control out of
 * bounds is the client's error (400 naming it), never silently clamped: a test asking for a
 * 60 s delay from a server capped at 10 s should learn so, not measure 10 s.
 */
import { HEADER_NAME_RE, type ResolvedHttpOptions } from '../config/http-options.js';
import { parseDurationMs } from '../core/units.js';

export interface EchoControls {
  /** Answer with the request body as sent (its content type kept) instead of the JSON document. */
  raw: boolean;
  status: number;
  delayMs: number;
  /** Extra response headers, in the order asked. */
  headers: [string, string][];
  /** Answer with this many bytes (`x`) instead of an echo; null for an echo. */
  bytes: number | null;
  /** Close the connection after this response (HTTP/2: GOAWAY). */
  close: boolean;
}

/** Extra response headers one request may ask for. */
export const MAX_EXTRA_HEADERS = 16;
/** Headers a request may not set: they describe the connection or the framing, which are echod's. */
const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'content-length',
  'transfer-encoding',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-connection',
  'http2-settings',
]);
/**
 * The controls by name: each is a query parameter and, prefixed `x-echo-`, a request header.
 * A request naming none of them (most) is answered without parsing any.
 */
const CONTROLS = ['format', 'status', 'delay', 'header', 'bytes', 'close'] as const;
type ControlName = (typeof CONTROLS)[number];
export const CONTROL_NAMES: ReadonlySet<string> = new Set(CONTROLS);
/** The prefix of the control headers. */
export const CONTROL_HEADER_PREFIX = 'x-echo-';

/** The path that answers raw by default, like agnhost's /echo. */
export const RAW_PATH = '/echo';

export class ControlError extends Error {
  readonly code = 'ERR_ECHOD_HTTP_CONTROL';
}

/** The request's header, whichever of its spellings: one value (the first). */
type HeaderLookup = (name: string) => string | string[] | undefined;

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function all(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/**
 * The controls of one request. With `options.controls` false only the format is honoured
 * (raw or JSON is what is echoed, not a behaviour). Throws ControlError for a bad control.
 */
export function parseControls(
  path: string,
  query: URLSearchParams,
  header: HeaderLookup,
  options: Pick<ResolvedHttpOptions, 'controls' | 'maxDelayMs' | 'maxResponseBytes'>,
): EchoControls {
  const one = (name: ControlName): string | undefined => query.get(name) ?? first(header(CONTROL_HEADER_PREFIX + name));
  const format = one('format');
  if (format !== undefined && format !== 'raw' && format !== 'json')
    throw new ControlError(`format ${JSON.stringify(format)}: expected raw or json`);
  const controls: EchoControls = {
    raw: format === undefined ? path === RAW_PATH : format === 'raw',
    status: 200,
    delayMs: 0,
    headers: [],
    bytes: null,
    close: false,
  };
  if (!options.controls) return controls;
  const status = one('status');
  if (status !== undefined) {
    if (!/^[1-5]\d\d$/.test(status) || Number(status) < 200)
      throw new ControlError(`status ${JSON.stringify(status)}: expected 200 to 599`);
    controls.status = Number(status);
  }
  const delay = one('delay');
  if (delay !== undefined) {
    const ms = /^\d+$/.test(delay) ? Number(delay) : parseDurationMs(delay);
    if (ms === undefined || !Number.isSafeInteger(ms))
      throw new ControlError(`delay ${JSON.stringify(delay)}: expected milliseconds or a duration such as 250ms`);
    if (ms > options.maxDelayMs) throw new ControlError(`delay ${delay}: above the limit of ${options.maxDelayMs} ms (--http-max-delay)`);
    controls.delayMs = ms;
  }
  const repeatable: ControlName = 'header';
  for (const spec of [...query.getAll(repeatable), ...all(header(CONTROL_HEADER_PREFIX + repeatable))]) {
    const colon = spec.indexOf(':');
    const name = colon > 0 ? spec.slice(0, colon).trim().toLowerCase() : '';
    const value = colon > 0 ? spec.slice(colon + 1).trim() : '';
    if (!HEADER_NAME_RE.test(name)) throw new ControlError(`header ${JSON.stringify(spec)}: expected Name:Value`);
    if (RESERVED_HEADERS.has(name)) throw new ControlError(`header ${name}: describes the connection or framing and cannot be set`);
    // Visible ASCII, spaces and tabs: nothing that could end the header or start another.
    if (!/^[\t\x20-\x7e]*$/.test(value)) throw new ControlError(`header ${name}: the value may hold printable ASCII only`);
    if (controls.headers.length === MAX_EXTRA_HEADERS) throw new ControlError(`more than ${MAX_EXTRA_HEADERS} extra headers`);
    controls.headers.push([name, value]);
  }
  const bytes = one('bytes');
  if (bytes !== undefined) {
    if (!/^\d{1,16}$/.test(bytes)) throw new ControlError(`bytes ${JSON.stringify(bytes)}: expected a whole number`);
    if (Number(bytes) > options.maxResponseBytes)
      throw new ControlError(`bytes ${bytes}: above the limit of ${options.maxResponseBytes} (--http-max-response-bytes)`);
    controls.bytes = Number(bytes);
  }
  const close = one('close');
  if (close !== undefined) {
    if (!['1', 'true', '0', 'false'].includes(close)) throw new ControlError(`close ${JSON.stringify(close)}: expected 1 or 0`);
    controls.close = close === '1' || close === 'true';
  }
  return controls;
}
