/**
 * The JSON document an HTTP echo answers by default: everything the server saw of the request,
 * as it saw it. Pure: facts in, a plain object out (the transport gathers the facts).
 *
 * The transport answers with {@link echoDocumentJson}: the same document's JSON text built
 * directly, without the object, its header pairs and the query object in between (they were
 * most of the garbage a request made); echoDocument() is its reference (tests hold them equal).
 */
import { isUtf8 } from 'node:buffer';
import type { ProxyHeader } from '../core/proxy-protocol.js';

/** What TLS negotiated for the request's connection (https listeners), client certificate included. */
export interface HttpTlsInfo {
  version: string | null;
  cipher: string | null;
  sni: string | null;
  alpn: string | null;
  /** The client certificate (mTLS), or null when none was given. */
  clientCert: { subject: string; issuer: string; fingerprint256: string; authorized: boolean } | null;
}

/**
 * The PROXY protocol header the connection began with, as parsed (source, destination, TLVs), and
 * `via`: the socket's own peer, the balancer that sent it.
 */
export type HttpProxyInfo = ProxyHeader & { via: { address: string; port: number } };

/** Who sent a request and where it arrived: the transport knows them, the document echoes them as they are. */
export interface RequestOrigin {
  /** The client: a PROXY header's source when there was one. */
  client: { address: string; port: number };
  proxy: HttpProxyInfo | null;
  tls: HttpTlsInfo | null;
  server: { id: string; hostname: string };
  listener: string;
  connection: { id: number; request: number };
}

export interface RequestFacts extends RequestOrigin {
  method: string;
  /** The request target as sent: path and query. */
  url: string;
  httpVersion: string;
  /** Names and values as received, alternating (node's rawHeaders): order, case and repeats kept. */
  rawHeaders: readonly string[];
  body: Buffer;
  /** When the request arrived: a Date, or epoch milliseconds. */
  receivedAt: Date | number;
  /** `url` already split by {@link splitTarget} (the transport has done it for the controls). */
  target?: { pathname: string; query: URLSearchParams };
}

export interface EchoDocument extends RequestOrigin {
  method: string;
  path: string;
  /** Each parameter's value, or its values in order when repeated. */
  query: Record<string, string | string[]>;
  httpVersion: string;
  headers: [string, string][];
  body: { size: number; encoding: 'utf8' | 'base64'; data: string };
  receivedAt: string;
}

export function echoDocument(facts: RequestFacts): EchoDocument {
  const { pathname, query } = facts.target ?? splitTarget(facts.url);
  const headers: [string, string][] = [];
  for (let i = 0; i + 1 < facts.rawHeaders.length; i += 2) headers.push([facts.rawHeaders[i] as string, facts.rawHeaders[i + 1] as string]);
  const text = isUtf8(facts.body);
  return {
    method: facts.method,
    path: pathname,
    query: queryObject(query),
    httpVersion: facts.httpVersion,
    headers,
    body: { size: facts.body.length, encoding: text ? 'utf8' : 'base64', data: facts.body.toString(text ? 'utf8' : 'base64') },
    client: facts.client,
    proxy: facts.proxy,
    tls: facts.tls,
    server: facts.server,
    listener: facts.listener,
    connection: facts.connection,
    receivedAt: new Date(facts.receivedAt).toISOString(),
  };
}

/**
 * The document's JSON text, one line, newline included: exactly
 * `JSON.stringify(echoDocument(facts)) + '\n'`, built without the intermediate objects.
 */
export function echoDocumentJson(facts: RequestFacts): string {
  const { pathname, query } = facts.target ?? splitTarget(facts.url);
  const raw = facts.rawHeaders;
  let headers = '';
  for (let i = 0; i + 1 < raw.length; i += 2) headers += `${i === 0 ? '' : ','}[${quote(raw[i] as string)},${quote(raw[i + 1] as string)}]`;
  const body = facts.body;
  const text = isUtf8(body);
  const { client, server, connection } = facts;
  return (
    `{"method":${quote(facts.method)},"path":${quote(pathname)},"query":${query.size === 0 ? '{}' : JSON.stringify(queryObject(query))},` +
    `"httpVersion":${JSON.stringify(facts.httpVersion)},"headers":[${headers}],` +
    `"body":{"size":${body.length},"encoding":"${text ? 'utf8' : 'base64'}","data":${body.length === 0 ? '""' : JSON.stringify(body.toString(text ? 'utf8' : 'base64'))}},` +
    `"client":{"address":${JSON.stringify(client.address)},"port":${JSON.stringify(client.port)}},"proxy":${JSON.stringify(facts.proxy)},"tls":${JSON.stringify(facts.tls)},` +
    `"server":{"id":${JSON.stringify(server.id)},"hostname":${JSON.stringify(server.hostname)}},"listener":${JSON.stringify(facts.listener)},` +
    `"connection":{"id":${JSON.stringify(connection.id)},"request":${JSON.stringify(connection.request)}},"receivedAt":"${isoTime(facts.receivedAt)}"}\n`
  );
}

/** Anything JSON.stringify may escape in a string: the quote, the backslash, control characters, surrogates (everything but the safe ranges). */
const NEEDS_ESCAPE = /[^\x20\x21\x23-\x5b\x5d-\ud7ff\ue000-\uffff]/;

/** A string as JSON: as is between quotes when nothing in it needs escaping (most header names and values). */
function quote(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`;
}

let isoMs = Number.NaN;
let isoText = '';

/** toISOString(), asked once per millisecond however many requests arrive in it. */
function isoTime(at: Date | number): string {
  const ms = typeof at === 'number' ? at : at.getTime();
  if (ms !== isoMs) {
    isoMs = ms;
    isoText = new Date(ms).toISOString();
  }
  return isoText;
}

/** A target without a query: one shared, never changed (parseControls and the document only read it). */
const NO_QUERY = new URLSearchParams();
const SCHEME_RE = /^[a-z][a-z0-9+.-]*:\/\//i;

/** The path and the parsed query of a request target (`/a?b=1`, or an absolute URL a proxy sends). */
export function splitTarget(url: string): { pathname: string; query: URLSearchParams } {
  const at = url.indexOf('?');
  const pathPart = at === -1 ? url : url.slice(0, at);
  // Origin form (`/a`), the usual one, needs no pattern.
  const pathname =
    pathPart.charCodeAt(0) !== 0x2f && SCHEME_RE.test(pathPart) ? pathPart.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '') || '/' : pathPart;
  return { pathname, query: at === -1 || at === url.length - 1 ? NO_QUERY : new URLSearchParams(url.slice(at + 1)) };
}

function queryObject(query: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of query) {
    const seen = out[key];
    out[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return out;
}
