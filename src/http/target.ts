/**
 * A request target (`/a?b=1`, or the absolute URL a proxy sends) split into its path and its
 * query text, and the query read only as far as a request needs it: most requests carry no
 * controls, so the query is looked at for their names and echoed, never built into a
 * URLSearchParams. Pure.
 *
 * The query means what the WHATWG `application/x-www-form-urlencoded` parser (URLSearchParams)
 * says it means. A query without `%`, `+` and lone surrogates decodes to itself, so it is split
 * here directly; any other goes through URLSearchParams (tests hold the two equal).
 */

export interface RequestTarget {
  pathname: string;
  /** The text after the first `?` (empty when none), not decoded. */
  query: string;
}

const SCHEME_RE = /^[a-z][a-z0-9+.-]*:\/\//i;
/** What would make the urlencoded parser change a name or value: percent escapes, `+`, lone surrogates. */
const DECODED_RE = /[%+\ud800-\udfff]/;

/** The path and the query text of a request target. */
export function splitTarget(url: string): RequestTarget {
  const at = url.indexOf('?');
  const pathPart = at === -1 ? url : url.slice(0, at);
  // Origin form (`/a`), the usual one, needs no pattern.
  const pathname =
    pathPart.charCodeAt(0) !== 0x2f && SCHEME_RE.test(pathPart) ? pathPart.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '') || '/' : pathPart;
  return { pathname, query: at === -1 ? '' : url.slice(at + 1) };
}

/** The query as URLSearchParams (the controls parser's view). */
export function queryParams(query: string): URLSearchParams {
  return new URLSearchParams(query);
}

/** The query's names and values, in order, decoded as URLSearchParams decodes them (see the top). */
function params(query: string): Iterable<[string, string]> {
  return DECODED_RE.test(query) ? new URLSearchParams(query) : plainParams(query);
}

/** A query without anything to decode, split as the urlencoded parser splits it. */
function* plainParams(query: string): Generator<[string, string]> {
  // URLSearchParams drops one leading `?` of its input.
  let start = query.charCodeAt(0) === 0x3f ? 1 : 0;
  while (start <= query.length) {
    let end = query.indexOf('&', start);
    if (end === -1) end = query.length;
    if (end > start) {
      const eq = query.indexOf('=', start);
      yield eq !== -1 && eq < end ? [query.slice(start, eq), query.slice(eq + 1, end)] : [query.slice(start, end), ''];
    }
    start = end + 1;
  }
}

/** Whether the query holds a parameter of one of these names. */
export function queryHasAny(query: string, names: ReadonlySet<string>): boolean {
  if (query.length === 0) return false;
  for (const [name] of params(query)) if (names.has(name)) return true;
  return false;
}

/** The query as the document shows it: each name's value, or its values in order when repeated. */
export function queryObject(query: string): Record<string, string | string[]> {
  // No prototype: a parameter named `__proto__` is a name like any other.
  const out = Object.create(null) as Record<string, string | string[]>;
  if (query.length === 0) return out;
  for (const [key, value] of params(query)) {
    const seen = out[key];
    out[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return out;
}
