/**
 * One connection of an http or https listener, as the server books it: admitted, counted,
 * given the idle and drain deadlines and closed on shutdown like any echo connection. Its
 * bytes are HTTP's (node:http or node:http2 read the socket), so the byte-path primitives do
 * nothing; what closing means depends on what the connection carries:
 *
 * - HTTP/1.1: idle between requests → FIN now; a request in flight → its response says
 *   `Connection: close` and the FIN follows it.
 * - HTTP/2: GOAWAY (`session.close()`): streams in flight finish, no new ones start.
 * - WebSocket: close 1001 (going away), the close handshake, then the FIN.
 *
 * The drain deadline (the server's sweep) destroys whatever has not finished in time.
 */
import type { Socket } from 'node:net';
import type { ServerHttp2Session } from 'node:http2';
import type { WebSocket } from 'ws';
import type { HttpActivity } from '../connection/connection.js';
import type { Admission, Peer } from '../connection/transport.js';
import type { HttpTlsInfo, JsonText } from '../http/document.js';
import { SocketConnection } from './socket-connection.js';

const kHttpConnection = Symbol('echod.httpConnection');
type HttpSocket = Socket & { [kHttpConnection]?: HttpConnection };

/** WebSocket close code for a server going away (RFC 6455 §7.4.1). */
export const WS_GOING_AWAY = 1001;

export class HttpConnection extends SocketConnection {
  /** What TLS negotiated (https), for the echo document. */
  readonly httpTls: HttpTlsInfo | null;
  /** Requests begun on this connection (HTTP/2: streams); the echo document numbers them. */
  requests = 0;
  /** Requests begun and not yet answered or aborted. */
  inFlight = 0;
  /** Set once the connection speaks HTTP/2. */
  session: ServerHttp2Session | null = null;
  /** Set once the connection was upgraded to a WebSocket. */
  ws: WebSocket | null = null;
  /** WebSocket messages received. */
  wsMessages = 0;
  /** Response bytes sent (bodies), counted for the `close-after=bytes=` fault only. */
  responseBytes = 0;
  /** The id as the `x-echod-connection` header gives it. */
  readonly idText: string;
  /** The echo document's text about this connection (http/document.ts connectionJson), made at its first JSON answer. */
  documentJson: JsonText | null = null;

  constructor(admission: Admission, socket: Socket, peer: Peer, tls: HttpTlsInfo | null) {
    super(admission, socket, peer);
    this.httpTls = tls;
    this.idText = String(this.id);
    if (tls !== null) {
      this.tls = {
        version: tls.version,
        cipher: tls.cipher,
        servername: tls.sni,
        alpn: tls.alpn,
        clientSubject: tls.clientCert?.subject ?? null,
        authorized: tls.clientCert?.authorized ?? false,
      };
    }
    (socket as HttpSocket)[kHttpConnection] = this;
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
  }

  override get httpActivity(): HttpActivity {
    return {
      protocol: this.ws !== null ? 'websocket' : this.session !== null ? 'h2' : 'http/1.1',
      requests: this.requests,
      messages: this.wsMessages,
    };
  }

  /** Draining (shutdown, idle timeout): responses from now on close the connection. */
  get draining(): boolean {
    return this.state !== 'open';
  }

  /** Something happened on the connection (a request, a body chunk, a message): the idle deadline restarts. */
  active(): void {
    this.lastActive = this.context.clock.now;
  }

  /** A request began. Returns its number on this connection (1, 2, … as keep-alive reuses it). */
  began(): number {
    this.active();
    this.inFlight++;
    return ++this.requests;
  }

  /** A request was answered or aborted; a draining HTTP/1.1 connection ends once the last one has. */
  ended(): void {
    this.inFlight--;
    this.active();
    if (this.draining && this.inFlight === 0 && this.session === null && this.ws === null) this.socket.end();
  }

  // The echo goes out through HTTP responses and WebSocket frames, never the byte path.
  protected write(): boolean {
    return true;
  }

  protected pauseReading(): void {}

  protected resumeReading(): void {}

  protected echoBuffered(): void {}

  protected finish(): void {
    if (this.ws !== null) this.ws.close(WS_GOING_AWAY, 'server shutting down');
    else if (this.session !== null) this.session.close();
    else if (this.inFlight === 0) this.socket.end();
  }
}

/** The connection a socket was admitted as, if it was. */
export function httpConnectionOf(socket: Socket): HttpConnection | undefined {
  return (socket as HttpSocket)[kHttpConnection];
}

function onSocketError(this: Socket, err: NodeJS.ErrnoException): void {
  httpConnectionOf(this)?.onErrored(err.code ?? 'UNKNOWN');
}

function onSocketClose(this: Socket): void {
  const connection = httpConnectionOf(this);
  if (connection === undefined) return;
  try {
    connection.onClosed();
  } catch (err) {
    connection.context.onInternalError(connection, err);
  }
}
