/**
 * One HTTP exchange, either version (node's compatibility API): the request handler reads the
 * body within its bounds, parses the controls (src/http/controls.ts) and answers the JSON
 * document (src/http/document.ts), the raw body, or N bytes; then counts and logs the request.
 * The listeners that feed it are in http.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { FaultOptions } from '../config/faults.js';
import type { ResolvedHttpOptions } from '../config/http-options.js';
import type { TlsSettings } from '../config/options.js';
import type { Logger } from '../core/log.js';
import { CONTROL_HEADER_PREFIX, CONTROL_NAMES, ControlError, type EchoControls, parseControls, RAW_PATH } from '../http/controls.js';
import { connectionJson, type JsonText, requestJson } from '../http/document.js';
import { queryHasAny, queryParams, splitTarget } from '../http/target.js';
import { type HttpErrorReason, type HttpMonitor } from '../http/monitor.js';
import { OutputShaper, type ShapedSink } from '../connection/shaper.js';
import type { Acceptor } from '../connection/transport.js';
import { type HttpConnection, httpConnectionOf } from './http-connection.js';

export interface HttpListenContext {
  acceptor: Acceptor;
  logger: Logger;
  /** The tls listeners' settings (https only). */
  tls: TlsSettings | null;
  http: ResolvedHttpOptions;
  monitor: HttpMonitor;
  serverId: string;
}

/** Paths load balancers and orchestrators poll: answered like any other, never logged per request. */
export const HEALTH_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/livez', '/health']);
/** `?bytes=` bodies go out in writes of this size, each after the last was taken. */
const BYTES_CHUNK = 64 * 1024;

/**
 * The listener's context as its requests see it. `faults`: the listener's, as they act on HTTP
 * (docs/http.md): `delay` holds each answer, `throttle` paces each response body; `close-after`
 * time= is the connection's own shaper timer (a graceful close, as on drain), bytes= is counted here.
 */
export type ListenerContext = HttpListenContext & { hostname: string; faults: FaultOptions | null };

export type Request = IncomingMessage | Http2ServerRequest;
export type Response = ServerResponse | Http2ServerResponse;
export function announcedLength(req: Request): number {
  const length = req.headers['content-length'];
  return typeof length === 'string' && /^\d+$/.test(length) ? Number(length) : 0;
}

/** Everything about one request the answer needs besides the request itself. */
interface Exchange {
  req: Request;
  res: Response;
  connection: HttpConnection;
  number: number;
  /** Epoch milliseconds. */
  receivedAt: number;
  startedMs: number;
  context: ListenerContext;
  /** Close the connection after this response. */
  closeAfter: boolean;
  pathname: string;
  /** The query's text (after `?`), parsed only if the request asks for controls. */
  query: string;
  controls: EchoControls;
  /** The body as it arrives, within --max-body-bytes. */
  chunks: Buffer[];
  size: number;
  /** Refused while its body was arriving (too large, too slow): what else arrives is dropped. */
  over: boolean;
  /** https and HTTP/2: the --http-request-timeout timer (node:http's own covers http listeners). */
  timer: NodeJS.Timeout | null;
  /** The `close-after=bytes=` fault closes the connection after this response. */
  faultClose: boolean;
}

// The request path's handlers are defined once and find their exchange on the request or the
// response (no closures per request: they were a good part of the garbage one made).
const kExchange = Symbol('echod.exchange');
type Tagged<T> = T & { [kExchange]?: Exchange };

function exchangeOf(emitter: Request | Response): Exchange {
  return (emitter as Tagged<Request | Response>)[kExchange] as Exchange;
}

function ignoreStreamError(): void {}

function onResponseClose(this: Response): void {
  const exchange = exchangeOf(this);
  if (exchange.timer !== null) clearTimeout(exchange.timer);
  exchange.connection.ended();
}

/** Controls of a request that asks for none: its path alone decides raw or JSON. */
const NO_CONTROLS: EchoControls = Object.freeze({
  raw: false,
  status: 200,
  delayMs: 0,
  headers: Object.freeze([]) as unknown as [string, string][],
  bytes: null,
  close: false,
});
const RAW_NO_CONTROLS: EchoControls = Object.freeze({ ...NO_CONTROLS, raw: true });

export function onRequest(req: Request, res: Response, context: ListenerContext): void {
  const connection = httpConnectionOf(req.socket);
  if (connection === undefined) {
    res.destroy(); // not admitted (the socket is on its way out)
    return;
  }
  req.on('error', ignoreStreamError);
  res.on('error', ignoreStreamError);
  const number = connection.began();
  const { http, monitor } = context;
  const { pathname, query } = splitTarget(req.url ?? '/');
  const exchange: Exchange = {
    req,
    res,
    connection,
    number,
    receivedAt: Date.now(),
    startedMs: performance.now(),
    context,
    closeAfter: false,
    pathname,
    query,
    controls: NO_CONTROLS,
    chunks: EMPTY_CHUNKS,
    size: 0,
    over: false,
    timer: null,
    faultClose: false,
  };
  (res as Tagged<Response>)[kExchange] = exchange;
  res.on('close', onResponseClose);
  if (http.maxRequestsPerConnection > 0 && number >= http.maxRequestsPerConnection) {
    exchange.closeAfter = true;
    if (number === http.maxRequestsPerConnection) monitor.refused('max_requests_per_connection');
  }
  const raw = req.rawHeaders;
  let headerCount = 0;
  let echoHeaders = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.charCodeAt(0) === 0x3a) continue; // an HTTP/2 pseudo-header
    headerCount++;
    if (
      !echoHeaders &&
      name.length > CONTROL_HEADER_PREFIX.length &&
      (name.charCodeAt(0) | 0x20) === 0x78 &&
      name.slice(0, CONTROL_HEADER_PREFIX.length).toLowerCase() === CONTROL_HEADER_PREFIX
    )
      echoHeaders = true;
  }
  if (headerCount > http.maxHeaders) {
    refuse(exchange, 431, 'too_many_headers', `more than ${http.maxHeaders} header fields (--http-max-headers)`, true);
    return;
  }
  // Most requests name no control: their query is only echoed, never parsed for one.
  if (echoHeaders || queryHasAny(query, CONTROL_NAMES)) {
    try {
      exchange.controls = parseControls(pathname, queryParams(query), (name) => req.headers[name], http);
    } catch (err) {
      if (!(err instanceof ControlError)) throw err;
      refuse(exchange, 400, 'bad_control', err.message, false);
      return;
    }
  } else if (pathname === RAW_PATH) exchange.controls = RAW_NO_CONTROLS;
  if (announcedLength(req) > http.maxBodyBytes) {
    refuse(exchange, 413, 'body_too_large', `body above ${http.maxBodyBytes} bytes (--max-body-bytes)`, true);
    return;
  }
  // A request known to have no body is answered now, not a turn later at its stream's end, and
  // needs no request timer (node discards the empty stream itself, on either version).
  if (hasNoBody(req)) {
    bodyReceived(exchange, EMPTY);
    return;
  }
  // HTTP/1.1 on an http listener: node:http's requestTimeout bounds the whole request already.
  if (req.httpVersionMajor === 2 || connection.httpTls !== null) {
    exchange.timer = setTimeout(onRequestTimeout, Math.max(1, http.requestTimeoutMs - (performance.now() - exchange.startedMs)), exchange);
  }
  // The request is tagged only when its body is read (most have none).
  (req as Tagged<Request>)[kExchange] = exchange;
  req.on('data', onBodyData);
  req.on('end', onBodyEnd);
}

/**
 * HTTP/1.x without Content-Length and Transfer-Encoding has no body (RFC 9112 §6.3); nor has an
 * HTTP/2 stream whose HEADERS frame ended it.
 */
function hasNoBody(req: Request): boolean {
  if (req.httpVersionMajor === 2) return (req as Http2ServerRequest).stream.endAfterHeaders;
  return req.headers['transfer-encoding'] === undefined && (req.headers['content-length'] ?? '0') === '0';
}

/** --http-request-timeout on https and HTTP/2: the body did not arrive in time. */
function onRequestTimeout(exchange: Exchange): void {
  exchange.timer = null;
  exchange.over = true;
  refuse(
    exchange,
    408,
    'request_timeout',
    `request not received within ${exchange.context.http.requestTimeoutMs} ms (--http-request-timeout)`,
    true,
  );
}

/** Collects the body within --max-body-bytes (HTTP/2 and HTTPS bodies too). */
function onBodyData(this: Request, chunk: Buffer): void {
  const exchange = exchangeOf(this);
  if (exchange.over) return;
  exchange.connection.active();
  exchange.size += chunk.length;
  const { maxBodyBytes } = exchange.context.http;
  if (exchange.size > maxBodyBytes) {
    exchange.over = true;
    if (exchange.timer !== null) clearTimeout(exchange.timer);
    refuse(exchange, 413, 'body_too_large', `body above ${maxBodyBytes} bytes (--max-body-bytes)`, true);
    return;
  }
  // The shared empty list is never added to: a body's first chunk starts the exchange's own.
  if (exchange.chunks === EMPTY_CHUNKS) exchange.chunks = [chunk];
  else exchange.chunks.push(chunk);
}

function onBodyEnd(this: Request): void {
  const exchange = exchangeOf(this);
  if (exchange.timer !== null) {
    clearTimeout(exchange.timer);
    exchange.timer = null;
  }
  if (exchange.over) return;
  const { chunks } = exchange;
  const body = chunks.length === 0 ? EMPTY : chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, exchange.size);
  exchange.chunks = EMPTY_CHUNKS;
  bodyReceived(exchange, body);
}

/** The whole body is in: answered now, or after the `delay` control's and fault's hold. */
function bodyReceived(exchange: Exchange, body: Buffer): void {
  const delayMs = exchange.controls.delayMs + faultDelayMs(exchange.context.faults);
  if (delayMs === 0) answer(exchange, body);
  else {
    const timer = setTimeout(answer, delayMs, exchange, body);
    exchange.res.once('close', () => clearTimeout(timer));
  }
}

const EMPTY = Buffer.alloc(0);
const EMPTY_CHUNKS: Buffer[] = [];

/** The `delay` fault's hold for one answer: its range's uniform jitter, as on tcp. */
function faultDelayMs(faults: FaultOptions | null): number {
  const range = faults?.delayMs;
  if (range === undefined) return 0;
  const [min, max] = range;
  return min === max ? min : Math.round(min + Math.random() * (max - min));
}

/**
 * `close-after=bytes=N`: this response brings the connection's response bytes to N or past:
 * it says `Connection: close` (HTTP/2: GOAWAY after it) and the connection closes once it is out.
 */
function countResponseBytes(exchange: Exchange, length: number, headers: string[]): void {
  const after = exchange.context.faults?.closeAfter;
  if (after === undefined || !('bytes' in after)) return;
  const { connection } = exchange;
  connection.responseBytes += length;
  if (connection.responseBytes < after.bytes) return;
  exchange.faultClose = true;
  if (exchange.closeAfter || connection.draining) return; // said already
  exchange.closeAfter = true;
  if (exchange.req.httpVersionMajor < 2) headers.push('connection', 'close');
}

/**
 * A response body paced by the `throttle` fault: the tcp listeners' shaper (its token bucket,
 * its timers, one second of burst) with the response as its sink. `next` gives the body piece by
 * piece, the next once the shaper has written the last (so a `?bytes=` body is made as it goes
 * and at most one piece waits); `done` runs once it gave null.
 */
function throttled(res: Response, rate: number, next: () => Buffer | null, done: () => void): void {
  const sink: ShapedSink = {
    // node's two response types share write() but not its overloads: call it as the common shape.
    writeNow: (data) => (res as { write(data: Buffer): boolean }).write(data),
    pauseInput() {},
    resumeInput() {},
    faultClose() {},
    writable: () => !res.writableNeedDrain,
  };
  const shaper = new OutputShaper({ throttleBytesPerSecond: rate }, sink);
  const feed = (): void => {
    if (res.destroyed) return;
    const piece = next();
    if (piece === null) done();
    else {
      shaper.send(piece, 0);
      // On a later turn: a piece written at once would otherwise feed the next from within this one.
      shaper.whenEmpty(() => setImmediate(feed));
    }
  };
  res.on('drain', () => shaper.drained());
  res.once('close', () => shaper.dispose());
  feed();
}

/**
 * The headers every answer carries (who answered, on which connection, which request), as
 * writeHead's flat list of names and values; `extra` pairs follow.
 */
function baseHeaders(exchange: Exchange, contentType: string): string[] {
  const { connection, context, req } = exchange;
  const headers = [
    context.http.serverHeader,
    context.serverId,
    'x-echod-connection',
    connection.idText,
    'x-echod-request',
    String(exchange.number),
    'content-type',
    contentType,
  ];
  if (req.httpVersionMajor < 2 && (exchange.closeAfter || connection.draining)) headers.push('connection', 'close');
  return headers;
}

/** A control's response header: it replaces one of ours of that name, except the content type, which stays the echo's. */
function addControlHeader(headers: string[], name: string, value: string): void {
  if (name === 'content-type') return;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === name) {
      headers[i + 1] = value;
      return;
    }
  }
  headers.push(name, value);
}

function refuse(exchange: Exchange, status: number, reason: HttpErrorReason, message: string, close: boolean): void {
  const { res, context, connection } = exchange;
  if (res.headersSent || res.destroyed) return;
  context.monitor.refused(reason);
  context.logger.warn({ connId: connection.id, request: exchange.number, status, reason }, 'http request refused');
  exchange.closeAfter ||= close;
  const body = Buffer.from(`${JSON.stringify({ error: message, reason })}\n`);
  send(exchange, status, baseHeaders(exchange, 'application/json'), body, 0);
}

function answer(exchange: Exchange, body: Buffer): void {
  const { req, res, connection, context, controls } = exchange;
  if (res.destroyed) return;
  exchange.closeAfter ||= controls.close;
  const contentType =
    controls.bytes !== null
      ? 'application/octet-stream'
      : controls.raw
        ? (req.headers['content-type'] ?? 'application/octet-stream')
        : 'application/json';
  const headers = baseHeaders(exchange, contentType);
  for (const [name, value] of controls.headers) addControlHeader(headers, name, value);
  if (controls.bytes !== null) {
    sendBytes(exchange, controls.status, headers, controls.bytes, body.length);
    return;
  }
  const out = controls.raw
    ? body
    : requestJson(
        {
          method: req.method ?? '',
          url: req.url ?? '/',
          httpVersion: req.httpVersion,
          rawHeaders: req.rawHeaders,
          body,
          receivedAt: exchange.receivedAt,
          target: exchange,
        },
        (connection.documentJson ??= connectionDocumentJson(connection, context)),
        exchange.number,
      );
  send(exchange, controls.status, headers, out, body.length);
}

/** What the document says of the connection (the same for each of its requests), as connectionJson's text. */
function connectionDocumentJson(connection: HttpConnection, context: ListenerContext): JsonText {
  const { proxy } = connection;
  return connectionJson({
    client: { address: connection.remoteAddress, port: connection.remotePort },
    proxy:
      proxy === null
        ? null
        : { ...proxy, via: connection.via ?? { address: connection.socket.remoteAddress ?? '', port: connection.socket.remotePort ?? 0 } },
    tls: connection.httpTls,
    server: { id: context.serverId, hostname: context.hostname },
    listener: connection.listener,
    connectionId: connection.id,
  });
}

/** Statuses and methods that carry no body. */
function bodiless(status: number, method: string | undefined): boolean {
  return method === 'HEAD' || status === 204 || status === 304;
}

/** `body`: bytes, or JSON text with its length in bytes. */
function send(exchange: Exchange, status: number, headers: string[], body: Buffer | JsonText, bytesIn: number): void {
  const { req, res } = exchange;
  const none = bodiless(status, req.method);
  const bytes = Buffer.isBuffer(body);
  const length = none ? 0 : bytes ? body.length : body.bytes;
  if (!none) headers.push('content-length', String(length));
  countResponseBytes(exchange, length, headers);
  // node's two response types share writeHead and end but not their overloads: called as the common shape.
  (res as { writeHead(status: number, headers: string[]): unknown }).writeHead(status, headers);
  const rate = exchange.context.faults?.throttleBytesPerSecond;
  if (rate !== undefined && length > 0) {
    let piece: Buffer | null = bytes ? body : Buffer.from(body.text);
    throttled(
      res,
      rate,
      () => {
        const given = piece;
        piece = null;
        return given;
      },
      () => {
        res.end();
        finished(exchange, status, bytesIn, length);
      },
    );
    return;
  }
  // A string goes to the socket with the head in one piece (a Buffer would be a second one);
  // ASCII text (bytes === length) as latin1, which the socket copies rather than encodes.
  if (none) res.end();
  else if (bytes) (res as { end(data: Buffer): unknown }).end(body);
  else
    (res as { end(data: string, encoding: BufferEncoding): unknown }).end(body.text, body.bytes === body.text.length ? 'latin1' : 'utf8');
  finished(exchange, status, bytesIn, length);
}

/** `?bytes=N`: N bytes of `x`, written as the client takes them (memory stays one chunk). */
function sendBytes(exchange: Exchange, status: number, headers: string[], total: number, bytesIn: number): void {
  const { req, res } = exchange;
  if (bodiless(status, req.method)) {
    send(exchange, status, headers, EMPTY, bytesIn);
    return;
  }
  headers.push('content-length', String(total));
  countResponseBytes(exchange, total, headers);
  (res as { writeHead(status: number, headers: string[]): unknown }).writeHead(status, headers);
  const chunk = Buffer.alloc(Math.min(BYTES_CHUNK, total), 'x');
  let left = total;
  const rate = exchange.context.faults?.throttleBytesPerSecond;
  if (rate !== undefined) {
    const next = (): Buffer | null => {
      if (left === 0) return null;
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      return piece;
    };
    throttled(res, rate, next, () => {
      res.end();
      finished(exchange, status, bytesIn, total);
    });
    return;
  }
  const pump = (): void => {
    while (left > 0 && !res.destroyed) {
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      // node's two response types share write() but not its overloads: call it as the common shape.
      if (!(res as { write(data: Buffer): boolean }).write(piece)) {
        res.once('drain', pump);
        return;
      }
    }
    if (left === 0) {
      res.end();
      finished(exchange, status, bytesIn, total);
    }
  };
  pump();
}

/** The response is out: count it, log it, and close the connection if this was its last. */
function finished(exchange: Exchange, status: number, bytesIn: number, bytesOut: number): void {
  const { req, connection, context, number, pathname } = exchange;
  const durationMs = performance.now() - exchange.startedMs;
  const method = req.method ?? '';
  context.monitor.answered(method, status, bytesIn, bytesOut, durationMs);
  if (!HEALTH_PATHS.has(pathname) && context.logger.isLevelEnabled('info')) {
    context.logger.info(
      {
        connId: connection.id,
        request: number,
        method,
        path: pathname,
        httpVersion: req.httpVersion,
        status,
        bytesIn,
        bytesOut,
        durationMs: Math.round(durationMs * 1000) / 1000,
      },
      'http request',
    );
  }
  // GOAWAY: streams in flight (this one included) finish, no new ones start.
  if (exchange.closeAfter && req.httpVersionMajor === 2) connection.session?.close();
  // close-after=bytes=: closed as the fault closes any connection (its reason, its log line), after this response.
  if (exchange.faultClose) connection.faultClose('fin');
}
