/**
 * http:// and https:// echo listeners, with WebSocket upgrades on both:
 *
 * - http:// — HTTP/1.1 (node:http), and HTTP/2 with prior knowledge (h2c, node:http2's plain
 *   server) for a client that opens with the HTTP/2 connection preface, on the same port.
 * - https:// — node:http2's secure server with allowHTTP1: HTTP/2 or HTTP/1.1 by ALPN.
 * - Either on a TCP port, an inherited fd, or a unix socket (http+unix://, https+unix://).
 *
 * Every accepted socket goes through the server's admission like a tcp or tls one (https:
 * held from accept, admitted after its handshake), becomes an HttpConnection the server books,
 * and is drained by it. One request handler serves every HTTP version (node's compatibility
 * API, http-exchange.ts).
 */
import { once } from 'node:events';
import { createServer as createHttpServer, IncomingMessage, type Server as HttpServer, ServerResponse } from 'node:http';
import {
  constants as h2,
  createSecureServer,
  createServer as createH2cServer,
  type Http2SecureServer,
  type Http2Server,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { hostname } from 'node:os';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import { formatListener } from '../config/listen-url.js';
import type { HttpTlsInfo } from '../http/document.js';
import type { HttpErrorReason } from '../http/monitor.js';
import type { Acceptor, Listener, ListenSpec, Peer } from '../connection/transport.js';
import { HttpConnection, httpConnectionOf } from './http-connection.js';
import { announcedLength, type HttpListenContext, type ListenerContext, onRequest, type Request, type Response } from './http-exchange.js';
import {
  abandonHandshakes,
  acceptHeld,
  type AfterHeader,
  distinguishedName,
  endHandshake,
  handshakeMsOf,
  handshakeNext,
  takeHeld,
  TLS_HANDSHAKE_TIMEOUT_MS,
} from './node.js';
import { bindSocketFile, removeSocketFile, type SocketFile } from './socket-file.js';
import { createWebSocketEcho } from './websocket.js';

export type { HttpListenContext } from './http-exchange.js';

/** After a flood's GOAWAY, the socket is destroyed this much later (time for the frame to go out). */
const GOAWAY_GRACE_MS = 50;
/** The slowloris sweep of node:http checks this often at most (and 4 times per headers timeout). */
const MAX_CHECK_INTERVAL_MS = 1000;
/**
 * Node's http servers are node:net servers: they listen themselves, their 'connection' is taken
 * over, and node:http's slowloris sweep (headers and request timeouts) starts with their listen.
 * Bun's node:http and node:http2 listen natively and never hand their sockets out; there a
 * node:net server listens and gives each socket to the http server as if it had accepted it.
 */
const HTTP_SERVERS_LISTEN = process.versions.bun === undefined;

export type HttpListener = Listener & { setSecureContext?(options: SecureContextOptions): void };

type AnyHttpServer = HttpServer | Http2Server | Http2SecureServer;

export async function listenHttp(spec: ListenSpec, given: HttpListenContext): Promise<HttpListener> {
  const { listener } = spec;
  // os.hostname() is a system call: asked once per listener, not once per request.
  const context: ListenerContext = { ...given, hostname: hostname(), faults: listener.faults };
  const { http } = context;
  const h2Settings = {
    // Pseudo-headers (:method, :path, :scheme, :authority) count as pairs here.
    maxHeaderListPairs: http.maxHeaders + 4,
    settings: { maxConcurrentStreams: http.maxConcurrentStreams, maxHeaderListSize: http.maxHeaderBytes },
  };
  const onSession = (session: ServerHttp2Session): void => {
    session.on('error', ignoreError); // the socket's own listener records it; the session just ends
    const connection = httpConnectionOf(session.socket);
    if (connection === undefined) return;
    connection.session = session;
    boundResets(session, connection, context);
    if (connection.draining) session.close();
  };
  const responseHeaders = (): string => serverHeaderLine(context);
  let server: HttpServer | Http2SecureServer;
  let h2c: Http2Server | null = null;
  if (listener.protocol === 'https') {
    if (context.tls === null) throw new Error('https listener without TLS settings');
    const secure = createSecureServer({
      ...context.tls.context,
      requestCert: context.tls.requestCert,
      rejectUnauthorized: context.tls.rejectUnauthorized,
      allowHTTP1: true,
      handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
      ...h2Settings,
    });
    // node:http's connection handler reads these off the server for the HTTP/1.1 fallback.
    Object.assign(secure, { maxHeaderSize: http.maxHeaderBytes, maxHeadersCount: http.maxHeaders + 1 });
    secure.on('session', onSession);
    secure.on('sessionError', ignoreError);
    server = secure;
  } else {
    const plain = createHttpServer({
      maxHeaderSize: http.maxHeaderBytes,
      headersTimeout: http.headersTimeoutMs,
      requestTimeout: http.requestTimeoutMs,
      connectionsCheckingInterval: Math.max(10, Math.min(MAX_CHECK_INTERVAL_MS, Math.floor(http.headersTimeoutMs / 4))),
      // Keep-alive connections end at the server's idle timeout, as every connection does.
      keepAliveTimeout: 0,
      noDelay: spec.noDelay,
    });
    plain.maxHeadersCount = http.maxHeaders + 1;
    server = plain;
    // Never listens: it is given the sockets that open with the HTTP/2 preface.
    h2c = createH2cServer(h2Settings);
    serveExchanges(h2c, context);
    h2c.on('session', onSession);
    h2c.on('sessionError', ignoreError);
  }
  serveExchanges(server, context);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => onClientError(err, socket, context));
  const ws = createWebSocketEcho(http, context.monitor, context.logger, responseHeaders);
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    if (ignoresUpgrade(req)) answerWithoutUpgrade(req, socket, head, context);
    else ws.upgrade(req, socket, head);
  });

  const { accepting, take } = acceptorFor(server, spec);
  if (!HTTP_SERVERS_LISTEN && h2c !== null) {
    // Bun's node:http, given sockets, does not time their requests out (Node's sweep does): say so once, at start-up.
    context.logger.warn(
      { listener: formatListener(listener), runtime: 'bun' },
      'under Bun, --http-headers-timeout and --http-request-timeout do not bound HTTP/1.1 requests on this listener (--idle-timeout does); run echod with node for them',
    );
  }
  const handshaking =
    h2c === null
      ? acceptTls(server as Http2SecureServer, accepting, take, spec, context)
      : acceptPlain(accepting, take, h2c, spec, context);

  const listen = async (options: { fd: number } | { path: string } | { host: string; port: number }): Promise<void> => {
    accepting.listen({ ...options, backlog: spec.backlog });
    await Promise.race([once(accepting, 'listening'), once(accepting, 'error').then(([err]) => Promise.reject(err as Error))]);
  };
  let socketFile: SocketFile | null = null;
  if (listener.fd !== null)
    await listen({ fd: listener.fd }).catch((err: unknown) => Promise.reject(Object.assign(err as Error, { fd: listener.fd })));
  else if (listener.path !== '') {
    // The one socket-file rule (socket-file.ts): stale removed, live or not a socket refused, ours alone removed on stop.
    socketFile = await bindSocketFile(
      listener.path,
      (name) => listen({ path: name }),
      () => new Promise<void>((resolve) => accepting.close(() => resolve())),
    );
  } else await listen({ host: listener.host, port: listener.port });
  const bound = accepting;
  const file = socketFile;
  return {
    config: listener,
    address() {
      if (file !== null) return { path: file.path }; // bound at a private name, see socket-file.ts
      const address = bound.address();
      return typeof address === 'object' && address !== null
        ? { address: address.address, family: address.family, port: address.port }
        : { path: address ?? '' };
    },
    stop() {
      return new Promise<void>((resolve) => {
        if (!bound.listening) {
          resolve();
          return;
        }
        bound.close(() => resolve());
        if (file !== null) removeSocketFile(file);
        // Otherwise the close would wait for each one's handshake timeout.
        abandonHandshakes(handshaking);
      });
    },
    ...(listener.protocol === 'https'
      ? { setSecureContext: (options: SecureContextOptions) => (server as Http2SecureServer).setSecureContext(options) }
      : {}),
  };
}

/** The request handlers every http server of a listener shares (HTTP/1.1, h2c, https). */
function serveExchanges(server: AnyHttpServer, context: ListenerContext): void {
  const { http } = context;
  server.on('request', (req: Request, res: Response) => onRequest(req, res, context));
  server.on('checkContinue', (req: Request, res: Response) => {
    // A body announced too large is refused before the client sends it.
    if (announcedLength(req) > http.maxBodyBytes) onRequest(req, res, context);
    else {
      res.writeContinue();
      onRequest(req, res, context);
    }
  });
}

/**
 * An Upgrade echod does not take (`Upgrade: h2c` from `curl --http2`, anything but websocket)
 * is ignored, as RFC 9110 §7.8 lets a server: the request is answered over HTTP/1.1. node:http
 * (before Node 24.9's shouldUpgradeCallback) hands every such request to 'upgrade' with its
 * parser detached, so it is answered here, its body (by Content-Length) fed to the request,
 * and the connection closed after it. A body in chunks is left to the WebSocket path's 400.
 */
function ignoresUpgrade(req: IncomingMessage): boolean {
  return req.headers.upgrade?.toLowerCase() !== 'websocket' && req.headers['transfer-encoding'] === undefined;
}

function answerWithoutUpgrade(req: IncomingMessage, socket: Socket, head: Buffer, context: ListenerContext): void {
  let left = Math.min(announcedLength(req), context.http.maxBodyBytes);
  // node:http ended `req` when it stopped parsing: a body goes to a copy of it.
  const request = left === 0 ? req : copyHead(req, socket);
  const res = new ServerResponse(request);
  res.shouldKeepAlive = false; // says Connection: close: the bytes after this request were never parsed
  res.assignSocket(socket);
  res.on('finish', () => {
    res.detachSocket(socket);
    socket.end();
    socket.resume(); // the client's FIN is read (anything after the body dropped) so the socket closes
  });
  const feed = (chunk: Buffer): void => {
    if (left === 0) return;
    const piece = chunk.length > left ? chunk.subarray(0, left) : chunk;
    left -= piece.length;
    request.push(piece);
    if (left === 0) {
      socket.removeListener('data', feed);
      request.push(null);
    }
  };
  if (left === 0) request.push(null);
  else {
    if (head.length > 0) feed(head);
    if (left > 0) socket.on('data', feed);
  }
  onRequest(request, res, context);
}

/** A request with `req`'s head and no body yet. */
function copyHead(req: IncomingMessage, socket: Socket): IncomingMessage {
  const copy = new IncomingMessage(socket);
  const { httpVersionMajor, httpVersionMinor, httpVersion, method, url, headers, rawHeaders } = req;
  return Object.assign(copy, { httpVersionMajor, httpVersionMinor, httpVersion, method, url, headers, rawHeaders });
}

/**
 * Who accepts the listener's sockets (`accepting`, whose 'connection' is ours alone) and how a
 * socket is then given to the http server (`take`): see HTTP_SERVERS_LISTEN.
 */
function acceptorFor(server: AnyHttpServer, spec: ListenSpec): { accepting: NetServer; take: (socket: Socket) => void } {
  if (!HTTP_SERVERS_LISTEN) {
    const accepting = createNetServer({ allowHalfOpen: spec.listener.protocol === 'http', noDelay: spec.noDelay });
    return { accepting, take: (socket) => server.emit('connection', socket) };
  }
  const [nodeAccept] = server.listeners('connection') as ((this: AnyHttpServer, socket: Socket) => void)[];
  if (nodeAccept === undefined)
    throw new Error(`${spec.listener.protocol} listener: this runtime's server has no connection handler to take over`);
  server.removeAllListeners('connection');
  return { accepting: server, take: (socket) => nodeAccept.call(server, socket) };
}

/**
 * https: the socket holds a slot from accept (transports/node.ts, as on tls listeners), its
 * PROXY header is read in clear text if the listener takes one, then the TLS handshake; it is
 * admitted (the per-IP limit re-checked with the header's address) once the handshake is done,
 * and node:http2 serves it (HTTP/2 or HTTP/1.1 by ALPN). Returns the sockets in their handshake.
 */
function acceptTls(
  server: Http2SecureServer,
  accepting: NetServer,
  take: (socket: Socket) => void,
  spec: ListenSpec,
  context: HttpListenContext,
): Set<Socket> {
  const { acceptor } = context;
  const handshaking = new Set<Socket>();
  const next = handshakeNext(take, handshaking);
  // Before node:http2's own listener, which makes the HTTP/2 session at once and emits 'session':
  // the connection must exist by then for the session to be found and kept on it (GOAWAY).
  server.prependListener('secureConnection', (socket: TLSSocket) => {
    const held = endHandshake(socket);
    const peer = held?.peer ?? peerOf(socket);
    const admitted = held === undefined ? null : acceptor.admit(peer, held.hold);
    if (admitted === null) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(spec.noDelay);
    const connection = new HttpConnection(admitted, socket, peer, tlsInfoOf(socket));
    // Timed from handshakeNext()'s start as on tls listeners: the close line and echod_tls_handshake_* say it.
    const handshakeMs = handshakeMsOf(held);
    if (connection.tls !== null && handshakeMs !== undefined) connection.tls.handshakeMs = handshakeMs;
    acceptor.register(connection);
  });
  server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
    const held = endHandshake(socket);
    if (held !== undefined) acceptor.release(held.hold);
    // Refused at accept (counted then) never gets here; closed by a stopping listener is no refusal.
    if (held?.abandoned !== true) acceptor.refuse('tls_error', held?.peer ?? peerOf(socket), err.message);
    socket.destroy();
  });
  accepting.on('connection', (socket: Socket) => {
    socket.on('error', ignoreError); // until its connection (or node's handler) has one of its own
    acceptHeld(socket, acceptor, spec, next);
  });
  return handshaking;
}

/**
 * http: the socket is admitted at accept, or after its PROXY header (held meanwhile, as on tcp
 * listeners); then its first bytes say which server takes it: the HTTP/2 preface → the h2c
 * server, anything else → node:http. The bytes read are put back for the one that takes it.
 * Returns the (always empty) set of sockets in a TLS handshake.
 */
function acceptPlain(
  accepting: NetServer,
  take: (socket: Socket) => void,
  h2c: Http2Server,
  spec: ListenSpec,
  context: ListenerContext,
): Set<Socket> {
  const { acceptor } = context;
  const listener = spec.listener;
  const route: PrefaceRoute = {
    timeoutMs: context.http.headersTimeoutMs,
    http1: (socket) => handOver(socket, take),
    h2: (socket) => {
      // HTTP/2 has no half-close: the client's FIN ends the connection (node:http's sockets are half-open).
      socket.allowHalfOpen = false;
      handOver(socket, (given) => h2c.emit('connection', given));
    },
    // As node:http answers a request head that does not come in time (one refusal, one place).
    timedOut: (socket) =>
      onClientError(
        Object.assign(new Error('no request within the headers timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }),
        socket,
        context,
      ),
  };
  // Admitted (or refused), booked, then its first bytes decide who serves it.
  const serve = (socket: Socket, peer: Peer, admitted: ReturnType<Acceptor['admit']>): void => {
    if (admitted === null) {
      socket.destroy();
      return;
    }
    acceptor.register(new HttpConnection(admitted, socket, peer, null));
    // A socket paused after its PROXY header, with the bytes read past it put back: the sniff reads those first.
    sniffPreface(socket, route);
  };
  if (listener.proxyProtocol === 'off') {
    // No header to read: admitted at accept.
    accepting.on('connection', (socket: Socket) => {
      socket.on('error', ignoreError); // until its connection has one of its own
      const peer = peerOf(socket);
      serve(socket, peer, acceptor.admit(peer));
    });
    return new Set();
  }
  const next: AfterHeader = (socket, peer) => {
    const held = takeHeld(socket);
    serve(socket, peer, held === undefined ? null : acceptor.admit(peer, held.hold));
  };
  accepting.on('connection', (socket: Socket) => {
    socket.on('error', ignoreError); // until its connection has one of its own
    acceptHeld(socket, acceptor, spec, next);
  });
  return new Set();
}

/**
 * Gives a paused socket, its first bytes put back, to `take` (node:http, node:http2). One that
 * reads through 'data' events (node:http; Bun's servers) gets them once the socket flows; Node's
 * HTTP/2 session reads the socket's handle itself and takes the buffered bytes first on its own,
 * so that socket is left paused (flowing, the bytes would go to no listener).
 */
function handOver(socket: Socket, take: (socket: Socket) => void): void {
  take(socket);
  if (socket.listenerCount('data') > 0) socket.resume();
}

/** The HTTP/2 connection preface (RFC 9113 §3.4): a client with prior knowledge of h2c opens with it. */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const PREFACE_FIRST_BYTE = 0x50; // 'P'

/** What a socket's first bytes say: HTTP/2 (the whole preface), HTTP/1.1 (a byte that differs), or not yet. */
export function prefaceVerdict(received: Buffer): 'h2' | 'http1' | 'incomplete' {
  // The common case decided by one byte: a method other than PRI.
  if (received.length > 0 && received[0] !== PREFACE_FIRST_BYTE) return 'http1';
  const length = Math.min(received.length, H2_PREFACE.length);
  if (H2_PREFACE.compare(received, 0, length, 0, length) !== 0) return 'http1';
  return length === H2_PREFACE.length ? 'h2' : 'incomplete';
}

interface PrefaceRoute {
  /** A socket that has not said which it speaks within this is refused as node:http refuses a slow head. */
  timeoutMs: number;
  http1(socket: Socket): void;
  h2(socket: Socket): void;
  timedOut(socket: Socket): void;
}

interface Sniff {
  /** The bytes read so far, when they were a part of the preface (rare: most reads decide at once). */
  received: Buffer | null;
  timer: NodeJS.Timeout;
  route: PrefaceRoute;
}

// The sniff's handlers are defined once and find their state on the socket (no closures per connection).
const kSniff = Symbol('echod.sniff');
type SniffSocket = Socket & { [kSniff]?: Sniff | undefined };

/**
 * Reads a socket's first bytes until they decide HTTP/2 or HTTP/1.1 (at most the preface's 24
 * bytes; usually the first byte), then routes it with them put back unread. No copy on the
 * common path: the chunk read is the one put back.
 */
function sniffPreface(socket: Socket, route: PrefaceRoute): void {
  const timer = setTimeout(onSniffTimeout, route.timeoutMs, socket);
  timer.unref();
  (socket as SniffSocket)[kSniff] = { received: null, timer, route };
  socket.on('data', onSniffData);
  socket.on('end', onSniffEnd);
  socket.on('close', onSniffClose);
  socket.resume(); // a socket paused after its PROXY header flows again: the bytes put back come first
}

function endSniff(socket: Socket): Sniff | undefined {
  const sniff = (socket as SniffSocket)[kSniff];
  if (sniff === undefined) return undefined;
  (socket as SniffSocket)[kSniff] = undefined;
  clearTimeout(sniff.timer);
  socket.removeListener('data', onSniffData);
  socket.removeListener('end', onSniffEnd);
  socket.removeListener('close', onSniffClose);
  return sniff;
}

function onSniffData(this: Socket, chunk: Buffer): void {
  const sniff = (this as SniffSocket)[kSniff];
  if (sniff === undefined) return;
  const received = sniff.received === null ? chunk : Buffer.concat([sniff.received, chunk]);
  const verdict = prefaceVerdict(received);
  if (verdict === 'incomplete') {
    sniff.received = received;
    return;
  }
  endSniff(this);
  this.pause();
  this.unshift(received);
  if (verdict === 'h2') sniff.route.h2(this);
  else sniff.route.http1(this);
}

/** A FIN before the first bytes decided anything: a part of the preface (or nothing) is all there will be. */
function onSniffEnd(this: Socket): void {
  endSniff(this);
  this.destroy();
}

function onSniffClose(this: Socket): void {
  endSniff(this);
}

function onSniffTimeout(socket: Socket): void {
  const sniff = endSniff(socket);
  if (sniff === undefined || socket.destroyed) return;
  sniff.route.timedOut(socket);
}

function ignoreError(): void {}

/**
 * Rapid reset (CVE-2023-44487) and its kin: a client that opens streams and resets them at
 * once makes the server start work it never finishes, and never hits the concurrent-stream
 * limit. Streams ending in RST_STREAM (from either side) are counted per connection per second;
 * past --http2-max-resets-per-second the connection gets GOAWAY (ENHANCE_YOUR_CALM) and is
 * destroyed, so one connection's flood costs bounded work. Streams over the concurrent limit
 * are refused by nghttp2 itself (REFUSED_STREAM) before they cost a request.
 */
function boundResets(session: ServerHttp2Session, connection: HttpConnection, context: HttpListenContext): void {
  const limit = context.http.maxStreamResetsPerSecond;
  let windowStart = performance.now();
  let resets = 0;
  let closing = false;
  const onStreamClose = function (this: ServerHttp2Stream): void {
    if (closing || this.rstCode === h2.NGHTTP2_NO_ERROR) return;
    const now = performance.now();
    if (now - windowStart >= 1000) {
      windowStart = now;
      resets = 0;
    }
    if (++resets <= limit) return;
    closing = true;
    context.monitor.refused('http2_rapid_reset');
    context.logger.warn(
      { connId: connection.id, resets, limit, reason: 'http2_rapid_reset' },
      'http2 streams reset too fast: GOAWAY and closed',
    );
    session.goaway(h2.NGHTTP2_ENHANCE_YOUR_CALM);
    // A moment for the GOAWAY to be written, then the socket goes (node's session.destroy() leaves it open here).
    setTimeout(() => connection.socket.destroy(), GOAWAY_GRACE_MS).unref();
  };
  session.on('stream', (stream: ServerHttp2Stream) => stream.once('close', onStreamClose));
}

function peerOf(socket: Socket): Peer {
  return { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
}

function tlsInfoOf(socket: TLSSocket): HttpTlsInfo {
  const cert = socket.getPeerCertificate();
  const hasCert = cert !== null && typeof cert === 'object' && Object.keys(cert).length > 0;
  return {
    version: socket.getProtocol(),
    cipher: socket.getCipher()?.name ?? null,
    sni: typeof socket.servername === 'string' ? socket.servername : null,
    alpn: typeof socket.alpnProtocol === 'string' ? socket.alpnProtocol : null,
    clientCert: hasCert
      ? {
          subject: distinguishedName(cert.subject),
          issuer: distinguishedName(cert.issuer),
          fingerprint256: cert.fingerprint256,
          authorized: socket.authorized,
        }
      : null,
  };
}

/** node:http's refusals before a request exists: a status saying why, counted, logged, and the connection closed. */
const CLIENT_ERRORS: Readonly<Record<string, [number, string, HttpErrorReason]>> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large', 'header_too_large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout', 'request_timeout'],
};

/** The header naming the server (`--http-server-header`), as a raw header line, for answers written without node:http. */
function serverHeaderLine(context: HttpListenContext): string {
  return `${context.http.serverHeader}: ${context.serverId}\r\n`;
}

function onClientError(err: NodeJS.ErrnoException, socket: Socket, context: HttpListenContext): void {
  const code = err.code ?? '';
  const known = CLIENT_ERRORS[code] ?? (code.startsWith('HPE_') ? ([400, 'Bad Request', 'bad_request'] as const) : null);
  if (known === null || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, text, reason] = known;
  context.monitor.refused(reason);
  context.logger.warn({ connId: httpConnectionOf(socket)?.id, status, reason, errorCode: code }, 'http request refused');
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n${serverHeaderLine(context)}\r\n`);
}
