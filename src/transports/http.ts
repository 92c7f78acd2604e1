/**
 * http:// (node:http, HTTP/1.1) and https:// (node:http2's secure server with allowHTTP1:
 * HTTP/2 or HTTP/1.1 by ALPN) echo listeners, with WebSocket upgrades on both.
 *
 * Every accepted socket goes through the server's admission like a tcp or tls one (https:
 * held from accept, admitted after its handshake), becomes an HttpConnection the server books,
 * and is drained by it. One request handler serves both HTTP versions (node's compatibility
 * API): it reads the body within its bounds, parses the controls (src/http/controls.ts) and
 * answers the JSON document (src/http/document.ts), the raw body, or N bytes.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { constants as h2, createSecureServer, type Http2SecureServer, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { hostname } from 'node:os';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import type { HttpTlsInfo } from '../http/document.js';
import type { HttpErrorReason } from '../http/monitor.js';
import type { Listener, ListenSpec, Peer } from '../connection/transport.js';
import { HttpConnection, httpConnectionOf } from './http-connection.js';
import { announcedLength, type HttpListenContext, type ListenerContext, onRequest, type Request, type Response } from './http-exchange.js';
import {
  abandonHandshakes,
  acceptHeld,
  type AfterHeader,
  endHandshake,
  handshakeNext,
  takeHeld,
  TLS_HANDSHAKE_TIMEOUT_MS,
} from './node.js';
import { createWebSocketEcho } from './websocket.js';

export type { HttpListenContext } from './http-exchange.js';

/** After a flood's GOAWAY, the socket is destroyed this much later (time for the frame to go out). */
const GOAWAY_GRACE_MS = 50;
/** The slowloris sweep of node:http checks this often at most (and 4 times per headers timeout). */
const MAX_CHECK_INTERVAL_MS = 1000;

export type HttpListener = Listener & { setSecureContext?(options: SecureContextOptions): void };

export async function listenHttp(spec: ListenSpec, given: HttpListenContext): Promise<HttpListener> {
  const { listener } = spec;
  // os.hostname() is a system call: asked once per listener, not once per request.
  const context: ListenerContext = { ...given, hostname: hostname(), faults: listener.faults };
  const { http } = context;
  let server: HttpServer | Http2SecureServer;
  let handshaking = new Set<Socket>();
  if (listener.protocol === 'https') {
    if (context.tls === null) throw new Error('https listener without TLS settings');
    const secure = createSecureServer({
      ...context.tls.context,
      requestCert: context.tls.requestCert,
      rejectUnauthorized: context.tls.rejectUnauthorized,
      allowHTTP1: true,
      handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
      // Pseudo-headers (:method, :path, :scheme, :authority) count as pairs here.
      maxHeaderListPairs: http.maxHeaders + 4,
      settings: { maxConcurrentStreams: http.maxConcurrentStreams, maxHeaderListSize: http.maxHeaderBytes },
    });
    // node:http's connection handler reads these off the server for the HTTP/1.1 fallback.
    Object.assign(secure, { maxHeaderSize: http.maxHeaderBytes, maxHeadersCount: http.maxHeaders + 1 });
    handshaking = acceptHeldSockets(secure, spec, context);
    secure.on('session', (session: ServerHttp2Session) => {
      session.on('error', () => {}); // the socket's own listener records it; the session just ends
      const connection = httpConnectionOf(session.socket);
      if (connection === undefined) return;
      connection.session = session;
      boundResets(session, connection, context);
      if (connection.draining) session.close();
    });
    secure.on('sessionError', () => {});
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
    if (listener.proxyProtocol !== 'off') handshaking = acceptHeldSockets(plain, spec, context);
    else {
      // No header to read: admitted at accept (node's own handler, registered first, has the socket already).
      plain.on('connection', (socket: Socket) => {
        const peer = peerOf(socket);
        const admitted = context.acceptor.admit(peer, listener);
        if (admitted === null) {
          socket.destroy();
          return;
        }
        context.acceptor.register(new HttpConnection(admitted, socket, peer, null));
      });
    }
    server = plain;
  }
  const responseHeaders = (): string => `${http.serverHeader}: ${context.serverId}\r\n`;
  server.on('request', (req: Request, res: Response) => onRequest(req, res, context));
  server.on('checkContinue', (req: Request, res: Response) => {
    // A body announced too large is refused before the client sends it.
    if (announcedLength(req) > http.maxBodyBytes) onRequest(req, res, context);
    else {
      res.writeContinue();
      onRequest(req, res, context);
    }
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => onClientError(err, socket, context, responseHeaders()));
  const ws = createWebSocketEcho(http, context.monitor, context.logger, responseHeaders);
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => ws.upgrade(req, socket, head));

  server.listen({ host: listener.host, port: listener.port, backlog: spec.backlog });
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err as Error))]);
  const bound = server;
  return {
    config: listener,
    address() {
      const address = bound.address();
      return typeof address === 'object' && address !== null
        ? { address: address.address, family: address.family, port: address.port }
        : { path: String(address) };
    },
    stop() {
      return new Promise<void>((resolve) => {
        if (!bound.listening) {
          resolve();
          return;
        }
        bound.close(() => resolve());
        // Otherwise the close would wait for each one's handshake timeout.
        abandonHandshakes(handshaking);
      });
    },
    ...(listener.protocol === 'https'
      ? { setSecureContext: (options: SecureContextOptions) => (bound as Http2SecureServer).setSecureContext(options) }
      : {}),
  };
}

/**
 * The node:http or node:http2 server's own accept ('connection') is replaced by the tcp and tls
 * listeners' (transports/node.ts): the socket holds a slot from accept, its PROXY header is read
 * in clear text if the listener takes one (before the TLS handshake on https), and admission
 * re-checks the per-IP limit with the header's address. Then node's own connection handler
 * takes the socket (HTTP/1.1 parser, or TLS handshake then HTTP/2 or HTTP/1.1), given the bytes
 * read past the header first. Returns the sockets in their TLS handshake (https).
 */
function acceptHeldSockets(server: HttpServer | Http2SecureServer, spec: ListenSpec, context: HttpListenContext): Set<Socket> {
  const { acceptor } = context;
  const listener = spec.listener;
  const [nodeAccept] = server.listeners('connection') as ((this: typeof server, socket: Socket) => void)[];
  if (nodeAccept === undefined)
    throw new Error(`${listener.protocol} listener: this runtime's server has no connection handler to take over`);
  server.removeAllListeners('connection');
  const handshaking = new Set<Socket>();
  let next: AfterHeader;
  if (listener.protocol === 'https') {
    next = handshakeNext((socket) => nodeAccept.call(server, socket), handshaking);
    // Before node:http2's own listener, which makes the HTTP/2 session at once and emits 'session':
    // the connection must exist by then for the session to be found and kept on it (GOAWAY).
    server.prependListener('secureConnection', (socket: TLSSocket) => {
      const held = endHandshake(socket);
      const peer = held?.peer ?? peerOf(socket);
      const admitted = held === undefined ? null : acceptor.admit(peer, listener, held.hold);
      if (admitted === null) {
        socket.destroy();
        return;
      }
      socket.setNoDelay(spec.noDelay);
      acceptor.register(new HttpConnection(admitted, socket, peer, tlsInfoOf(socket)));
    });
    server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      const held = endHandshake(socket);
      if (held !== undefined) acceptor.release(held.hold);
      // Refused at accept (counted then) never gets here; closed by a stopping listener is no refusal.
      if (held?.abandoned !== true) acceptor.refuse('tls_error', held?.peer ?? peerOf(socket), err.message);
      socket.destroy();
    });
  } else {
    next = (socket, peer) => {
      const held = takeHeld(socket);
      const admitted = held === undefined ? null : acceptor.admit(peer, listener, held.hold);
      if (admitted === null) {
        socket.destroy();
        return;
      }
      context.acceptor.register(new HttpConnection(admitted, socket, peer, null));
      nodeAccept.call(server, socket);
      // Paused after its PROXY header, with the bytes read past it put back: node:http's parser
      // takes those first (it reads the socket's later bytes itself), once the socket flows.
      socket.resume();
    };
  }
  server.on('connection', (socket: Socket) => {
    socket.on('error', ignoreError); // until its connection (or node's handler) has one of its own
    acceptHeld(socket, acceptor, spec, next);
  });
  return handshaking;
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

function distinguishedName(name: object | undefined): string {
  return Object.entries(name ?? {})
    .map(([key, value]) => `${key}=${Array.isArray(value) ? value.join('+') : String(value)}`)
    .join(', ');
}

/** node:http's refusals before a request exists: a status saying why, counted, logged, and the connection closed. */
const CLIENT_ERRORS: Readonly<Record<string, [number, string, HttpErrorReason]>> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large', 'header_too_large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout', 'request_timeout'],
};

function onClientError(err: NodeJS.ErrnoException, socket: Socket, context: HttpListenContext, headers: string): void {
  const code = err.code ?? '';
  const known = CLIENT_ERRORS[code] ?? (code.startsWith('HPE_') ? ([400, 'Bad Request', 'bad_request'] as const) : null);
  if (known === null || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, text, reason] = known;
  context.monitor.refused(reason);
  context.logger.warn({ connId: httpConnectionOf(socket)?.id, status, reason, errorCode: code }, 'http request refused');
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n${headers}\r\n`);
}
