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

/**
 * Calls `each` with every name and value of the query, in order, decoded as URLSearchParams
 * decodes them. Returns early (true) when `each` does.
 */
function forEachParam(query: string, each: (name: string, value: string) => boolean | void): boolean {
  if (DECODED_RE.test(query)) {
    for (const [name, value] of new URLSearchParams(query)) if (each(name, value) === true) return true;
    return false;
  }
  // URLSearchParams drops one leading `?` of its input.
  let start = query.charCodeAt(0) === 0x3f ? 1 : 0;
  while (start <= query.length) {
    let end = query.indexOf('&', start);
    if (end === -1) end = query.length;
    if (end > start) {
      const eq = query.indexOf('=', start);
      const split = eq !== -1 && eq < end;
      if (each(query.slice(start, split ? eq : end), split ? query.slice(eq + 1, end) : '') === true) return true;
    }
    start = end + 1;
  }
  return false;
}

/** Whether the query holds a parameter of one of these names. */
export function queryHasAny(query: string, names: ReadonlySet<string>): boolean {
  return query.length > 0 && forEachParam(query, (name) => names.has(name));
}

/** The query as the document shows it: each name's value, or its values in order when repeated. */
export function queryObject(query: string): Record<string, string | string[]> {
  // No prototype: a parameter named `__proto__` is a name like any other.
  const out = Object.create(null) as Record<string, string | string[]>;
  if (query.length === 0) return out;
  forEachParam(query, (key, value) => {
    const seen = out[key];
    out[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  });
  return out;
}
