/**
 * WebSocket echo on http and https listeners, with the `ws` library: every message comes back
 * with its opcode (text or binary); ws answers pings, honours the close handshake and closes
 * with 1009 a message over `maxPayload`. permessage-deflate only when asked for.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import type { ResolvedHttpOptions } from '../config/http-options.js';
import type { Logger } from '../core/log.js';
import type { HttpMonitor } from '../http/monitor.js';
import { httpConnectionOf, type HttpConnection } from './http-connection.js';
import type { Socket } from 'node:net';

/** Stop reading a client while this much of its echo waits to be sent; resume below the low mark. */
const WS_HIGH_WATER_BYTES = 1024 * 1024;
const WS_LOW_WATER_BYTES = 256 * 1024;
/** ws.send's options, shared by every echo (ws copies them). */
const AS_BINARY = Object.freeze({ binary: true });
const AS_TEXT = Object.freeze({ binary: false });

export interface WebSocketEcho {
  /** The http server's 'upgrade' listener. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

export function createWebSocketEcho(
  http: ResolvedHttpOptions,
  monitor: HttpMonitor,
  logger: Logger,
  responseHeaders: () => string,
): WebSocketEcho {
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    maxPayload: http.maxWsMessageBytes,
    perMessageDeflate: http.wsDeflate,
  });
  // With a listener here ws leaves the answer to a bad handshake to us: a 400 saying who answered.
  wss.on('wsClientError', (err, socket) => {
    monitor.refused('bad_upgrade');
    logger.warn(
      { connId: httpConnectionOf(socket as Socket)?.id, reason: 'bad_upgrade', detail: err.message },
      'websocket upgrade refused',
    );
    refuseUpgrade(socket, responseHeaders());
  });
  return {
    upgrade(req, socket, head) {
      const connection = httpConnectionOf(socket as Socket);
      if (connection === undefined || connection.draining) {
        socket.destroy();
        return;
      }
      if (req.headers.upgrade?.toLowerCase() !== 'websocket') {
        monitor.refused('bad_upgrade');
        refuseUpgrade(socket, responseHeaders());
        return;
      }
      connection.began();
      wss.handleUpgrade(req, socket, head, (ws) => serve(ws, connection, monitor, logger));
    },
  };
}

function refuseUpgrade(socket: Duplex, headers: string): void {
  if (socket.writable) socket.end(`HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n${headers}\r\n`);
  else socket.destroy();
}

function serve(ws: WebSocket, connection: HttpConnection, monitor: HttpMonitor, logger: Logger): void {
  connection.ws = connection.draining ? null : ws;
  if (connection.ws === null) {
    ws.close(1001, 'server shutting down');
    return;
  }
  monitor.wsConnections++;
  logger.info({ connId: connection.id, request: connection.requests }, 'websocket opened');
  const sent = (): void => {
    if (ws.isPaused && ws.bufferedAmount < WS_LOW_WATER_BYTES) ws.resume();
  };
  // Per message: no closure, no options object, no event (each was a good part of an echo's cost).
  ws.on('message', (data: RawData, isBinary: boolean) => {
    connection.active();
    connection.wsMessages++;
    monitor.wsMessagesIn++;
    const bytes = data as Buffer; // binaryType 'nodebuffer': one Buffer per message
    const options = isBinary ? AS_BINARY : AS_TEXT;
    // An echo that may take the backlog past the low mark reports its write, to resume the
    // reading once the backlog is below it again; one that cannot (most) needs no callback.
    // A pause follows only an echo that had one: it took the backlog from under the low mark to the high.
    if (ws.bufferedAmount + bytes.length < WS_LOW_WATER_BYTES) ws.send(bytes, options);
    else ws.send(bytes, options, sent);
    // Sent while open, the echo was handed to the socket.
    if (ws.readyState === ws.OPEN) monitor.wsMessagesOut++;
    if (ws.bufferedAmount >= WS_HIGH_WATER_BYTES) ws.pause();
  });
  ws.on('error', (err: Error & { code?: string }) => {
    monitor.refused(err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'ws_message_too_big' : 'ws_protocol_error');
    logger.warn({ connId: connection.id, errorCode: err.code, detail: err.message }, 'websocket error');
  });
  ws.on('close', (code: number) => {
    logger.info({ connId: connection.id, messages: connection.wsMessages, code }, 'websocket closed');
    connection.ended();
  });
}
