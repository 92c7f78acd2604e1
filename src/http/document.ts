/**
 * The JSON document an HTTP echo answers by default: everything the server saw of the request,
 * as it saw it. Pure: facts in, a plain object out (the transport gathers the facts).
 *
 * The transport answers with the same document's JSON text built directly, without the object,
 * its header pairs and the query object in between (they were most of the garbage a request
 * made): {@link connectionJson} once per connection (what all its requests share), then
 * {@link requestJson} per request. echoDocument() is their reference (tests hold them equal).
 */
import { isAscii, isUtf8 } from 'node:buffer';
import type { ProxyHeader } from '../core/proxy-protocol.js';
import { queryObject, type RequestTarget, splitTarget } from './target.js';

export { splitTarget, type RequestTarget } from './target.js';

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

/** What a request says, apart from the connection it came on. */
export interface RequestPart {
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
  target?: RequestTarget;
}

export type RequestFacts = RequestPart & RequestOrigin;

/** What every request on one connection shares: its origin, the connection's id without the request's number. */
export type ConnectionFacts = Omit<RequestOrigin, 'connection'> & { connectionId: number };

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

/** The document as an object: the reference the JSON text is held to. */
export function echoDocument(facts: RequestFacts): EchoDocument {
  const { pathname, query } = facts.target ?? splitTarget(facts.url);
  const headers: [string, string][] = [];
  for (let i = 0; i + 1 < facts.rawHeaders.length; i += 2) headers.push([facts.rawHeaders[i] as string, facts.rawHeaders[i + 1] as string]);
  const text = isUtf8(facts.body);
  return {
    method: facts.method,
    path: pathname,
    query: referenceQuery(query),
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

/** The query by URLSearchParams itself (the reference for target.ts's own reading). */
function referenceQuery(query: string): Record<string, string | string[]> {
  const out = Object.create(null) as Record<string, string | string[]>;
  for (const [key, value] of new URLSearchParams(query)) {
    const seen = out[key];
    out[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return out;
}

/** JSON text and its length in UTF-8 (a Content-Length), known as it was built rather than measured after. */
export interface JsonText {
  text: string;
  bytes: number;
}

/**
 * The document's JSON text, one line, newline included: exactly
 * `JSON.stringify(echoDocument(facts)) + '\n'`, built without the intermediate objects.
 */
export function echoDocumentJson(facts: RequestFacts): JsonText {
  const { client, proxy, tls, server, listener, connection } = facts;
  return requestJson(facts, connectionJson({ client, proxy, tls, server, listener, connectionId: connection.id }), connection.request);
}

/**
 * The document's text from `"client"` to the connection's id, up to its `"request":` number:
 * the same for every request on one connection, so the transport makes it once per connection.
 */
export function connectionJson(facts: ConnectionFacts): JsonText {
  const text = connectionText(facts);
  return { text, bytes: Buffer.byteLength(text) };
}

function connectionText(facts: ConnectionFacts): string {
  const { client, server } = facts;
  return (
    `"client":{"address":${JSON.stringify(client.address)},"port":${JSON.stringify(client.port)}},"proxy":${JSON.stringify(facts.proxy)},"tls":${JSON.stringify(facts.tls)},` +
    `"server":{"id":${JSON.stringify(server.id)},"hostname":${JSON.stringify(server.hostname)}},"listener":${JSON.stringify(facts.listener)},` +
    `"connection":{"id":${JSON.stringify(facts.connectionId)},"request":`
  );
}

/** An empty body, as every bodiless request (most GETs) shows it. */
const EMPTY_BODY_JSON = '"body":{"size":0,"encoding":"utf8","data":""}';

/**
 * The UTF-8 bytes the document's text has beyond its length in UTF-16 code units (0 for ASCII):
 * added up piece by piece as requestJson builds it, so the whole text is never measured again.
 */
let extraBytes = 0;

/** The whole document's text: the request's own parts around `connection` (from connectionJson) and its number there. */
export function requestJson(request: RequestPart, connection: JsonText, number: number): JsonText {
  const { pathname, query } = request.target ?? splitTarget(request.url);
  const raw = request.rawHeaders;
  extraBytes = connection.bytes - connection.text.length;
  let headers = '';
  for (let i = 0; i + 1 < raw.length; i += 2) headers += `${i === 0 ? '' : ','}[${quote(raw[i] as string)},${quote(raw[i + 1] as string)}]`;
  const text =
    `{"method":${quote(request.method)},"path":${quote(pathname)},"query":${query.length === 0 ? '{}' : measured(JSON.stringify(queryObject(query)))},` +
    `"httpVersion":${quote(request.httpVersion)},"headers":[${headers}],${bodyJson(request.body)},` +
    `${connection.text}${number}},"receivedAt":"${isoTime(request.receivedAt)}"}\n`;
  return { text, bytes: text.length + extraBytes };
}

function bodyJson(body: Buffer): string {
  if (body.length === 0) return EMPTY_BODY_JSON;
  const text = isUtf8(body);
  const data = JSON.stringify(body.toString(text ? 'utf8' : 'base64'));
  // Base64 is ASCII, and so is the JSON of an ASCII text.
  if (text && !isAscii(body)) measured(data);
  return `"body":{"size":${body.length},"encoding":"${text ? 'utf8' : 'base64'}","data":${data}}`;
}

/** Printable ASCII that JSON leaves as it is: most method, path, header names and values. */
const PLAIN_ASCII_RE = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
/** Anything JSON.stringify may escape in a string: the quote, the backslash, control characters, surrogates (everything but the safe ranges). */
const NEEDS_ESCAPE = /[^\x20\x21\x23-\x5b\x5d-\ud7ff\ue000-\uffff]/;
/** Anything that is more than one byte in UTF-8. */
const NON_ASCII_RE = /[\u0080-\uffff]/;

/** A string as JSON: as is between quotes when nothing in it needs escaping (most header names and values). */
function quote(text: string): string {
  if (PLAIN_ASCII_RE.test(text)) return `"${text}"`;
  return measured(NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`);
}

/** Counts `json`'s bytes beyond its length into extraBytes; returns it. */
function measured(json: string): string {
  if (NON_ASCII_RE.test(json)) extraBytes += Buffer.byteLength(json) - json.length;
  return json;
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
