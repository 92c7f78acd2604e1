/**
 * A connection over a node:net socket (TCP, Unix, or TLS's wrapper), whatever it carries (the
 * line echo or HTTP): the rules every such transport keeps once, here — the client's bytes
 * counted without a PROXY header, and how the socket is destroyed or reset.
 */
import type { Socket } from 'node:net';
import { Connection } from '../connection/connection.js';
import type { Admission, Peer } from '../connection/transport.js';

/**
 * Closes `socket` so that its peer sees ECONNRESET: SO_LINGER 0, then close. A TLS socket's
 * wrapper has no such close, so it is destroyed.
 */
function resetSocket(socket: Socket): void {
  if (typeof socket.resetAndDestroy === 'function' && !('encrypted' in socket)) socket.resetAndDestroy();
  else socket.destroy();
}

export abstract class SocketConnection extends Connection {
  readonly socket: Socket;
  /** Bytes the socket read that were not the client's: a PROXY header (TLS sockets count only plaintext). */
  private readonly notClientBytes: number;

  constructor(admission: Admission, socket: Socket, peer: Peer) {
    super(admission, peer);
    this.socket = socket;
    this.notClientBytes = 'encrypted' in socket ? 0 : (peer.headerBytes ?? 0);
  }

  get bytesReceived(): number {
    return this.socket.bytesRead - this.notClientBytes;
  }

  get bytesSent(): number {
    return this.socket.bytesWritten;
  }

  get local(): { address: string; port: number } {
    return { address: this.socket.localAddress ?? '', port: this.socket.localPort ?? 0 };
  }

  protected destroyTransport(): void {
    this.socket.destroy();
  }

  protected resetTransport(): void {
    resetSocket(this.socket);
  }

  protected get transportDestroyed(): boolean {
    return this.socket.destroyed;
  }
}
