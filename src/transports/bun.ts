/**
 * The Bun transport: `Bun.listen` natively instead of node:net, used when echod runs under Bun.
 *
 * Bun's socket API differs from node:net in one way that matters here: `write()` takes what
 * the kernel takes now and returns the count; nothing is queued. So this transport keeps the
 * unwritten rest (at most one chunk's echo, since reading pauses until it is gone) and writes it
 * from the `drain` handler, and it sends FIN only once that rest is out.
 */
import { Connection, ConnectionFlag } from '../connection/connection.js';
import type { Acceptor, Admission, Listener, ListenSpec, Peer } from '../connection/transport.js';
import { bindSocketFile, removeSocketFile } from './socket-file.js';

/** The part of Bun's socket this transport uses. */
interface BunSocket {
  data: BunConnection | undefined;
  readonly remoteAddress: string;
  readonly remotePort?: number;
  readonly localAddress?: string;
  readonly localPort?: number;
  write(data: Uint8Array): number;
  end(): void;
  /** Sends FIN and keeps reading (with no argument; `shutdown(true)` sends nothing in Bun 1.4). */
  shutdown(): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  setNoDelay(enabled: boolean): boolean;
}

interface BunErrorLike {
  code?: string;
}

interface BunSocketHandler {
  open(socket: BunSocket): void;
  data(socket: BunSocket, chunk: Buffer): void;
  drain(socket: BunSocket): void;
  end(socket: BunSocket): void;
  close(socket: BunSocket, err?: BunErrorLike): void;
  error(socket: BunSocket, err: BunErrorLike): void;
}

interface BunListener {
  readonly hostname: string;
  readonly port: number;
  stop(closeActiveConnections?: boolean): void;
}

interface BunRuntime {
  listen(
    options:
      | { hostname: string; port: number; allowHalfOpen: boolean; reusePort: boolean; socket: BunSocketHandler }
      | { unix: string; allowHalfOpen: boolean; socket: BunSocketHandler },
  ): BunListener;
}

/** The Bun global when running under Bun, else undefined. */
export function bunRuntime(): BunRuntime | undefined {
  return (globalThis as { Bun?: BunRuntime }).Bun;
}

/** BunConnection's own `flags` bits. */
const Flag = {
  /** FIN is owed once `unsent` is out. */
  finishing: ConnectionFlag.transport,
  /** The socket is torn down (its close report may still be on its way). */
  destroyed: ConnectionFlag.transport << 1,
  /** The client's FIN has come: nothing more will be read. */
  peerEnded: ConnectionFlag.transport << 2,
} as const;

export class BunConnection extends Connection {
  private readonly socket: BunSocket;
  private received = 0;
  private sent = 0;
  /** Echo the kernel has not taken yet (a copy), written on drain; null when all is out. */
  private unsent: Buffer | null = null;

  constructor(admission: Admission, socket: BunSocket, peer: Peer) {
    super(admission, peer);
    this.socket = socket;
  }

  /** The client's FIN has come: nothing more will be read. */
  get peerEnded(): boolean {
    return (this.flags & Flag.peerEnded) !== 0;
  }

  set peerEnded(ended: boolean) {
    if (ended) this.flags |= Flag.peerEnded;
    else this.flags &= ~Flag.peerEnded;
  }

  get bytesReceived(): number {
    return this.received;
  }

  get bytesSent(): number {
    return this.sent;
  }

  get local(): { address: string; port: number } {
    return { address: this.socket.localAddress ?? '', port: this.socket.localPort ?? 0 };
  }

  /** Called for every chunk Bun reads: counted, then the same rule as every transport. */
  override receive(chunk: Buffer): void {
    this.received += chunk.length;
    super.receive(chunk);
  }

  /** Bun's drain: the kernel has room again. */
  flushUnsent(): void {
    const unsent = this.unsent;
    if (unsent === null) return;
    this.unsent = null;
    if (!this.write(unsent)) return;
    if ((this.flags & Flag.finishing) !== 0) {
      this.sendFin();
      return;
    }
    this.onDrained();
  }

  markDestroyed(): void {
    this.flags |= Flag.destroyed;
  }

  protected write(data: Buffer): boolean {
    if (this.unsent !== null) {
      // Behind earlier output; only the tail at close can get here.
      this.unsent = Buffer.concat([this.unsent, data]);
      return false;
    }
    const written = this.socket.write(data);
    if (written < 0) return true; // closed: the close report follows
    this.sent += written;
    if (written === data.length) return true;
    this.unsent = Buffer.from(data.subarray(written));
    return false;
  }

  protected pauseReading(): void {
    this.socket.pause();
  }

  protected resumeReading(): void {
    this.socket.resume();
  }

  protected finish(): void {
    // Keep reading (and discarding) so the peer's FIN is seen; FIN goes once all echo is out.
    this.socket.resume();
    if (this.unsent === null) this.sendFin();
    else this.flags |= Flag.finishing;
  }

  /**
   * FIN, all echo being out. While the client may still send: shutdown, not end: Bun's end()
   * closes the socket outright even with allowHalfOpen, so a client still sending would get a
   * reset and could lose echo already written. After the client's FIN nothing more can come,
   * and end() closes at once (one system call less per connection than shutdown and a later close).
   */
  private sendFin(): void {
    if ((this.flags & Flag.peerEnded) !== 0) this.socket.end();
    else this.socket.shutdown();
  }

  protected echoBuffered(): void {
    // Bun delivers every chunk it reads at once; nothing is held back while paused.
  }

  protected resetTransport(): void {
    this.destroyTransport();
  }

  protected destroyTransport(): void {
    this.flags |= Flag.destroyed;
    this.socket.terminate();
  }

  protected get transportDestroyed(): boolean {
    return (this.flags & Flag.destroyed) !== 0;
  }
}

/** A TCP listener on Bun.listen. */
export async function listenBun(bun: BunRuntime, spec: ListenSpec, acceptor: Acceptor): Promise<Listener> {
  const handler: BunSocketHandler = {
    open(socket) {
      const peer: Peer = { address: socket.remoteAddress, port: socket.remotePort ?? 0 };
      const admitted = acceptor.admit(peer);
      if (admitted === null) {
        socket.terminate();
        return;
      }
      if (spec.noDelay) socket.setNoDelay(true);
      const connection = new BunConnection(admitted, socket, peer);
      socket.data = connection;
      acceptor.register(connection);
    },
    // Each handler guards its connection itself (no closure per event: these run per read).
    data(socket, chunk) {
      const connection = socket.data;
      if (connection === undefined) return;
      try {
        connection.receive(chunk);
      } catch (err) {
        connection.fail(err);
      }
    },
    drain(socket) {
      const connection = socket.data;
      if (connection === undefined) return;
      try {
        connection.flushUnsent();
      } catch (err) {
        connection.fail(err);
      }
    },
    end(socket) {
      const connection = socket.data;
      if (connection === undefined) return;
      connection.peerEnded = true;
      try {
        connection.onEnded();
      } catch (err) {
        connection.fail(err);
      }
    },
    error(socket, err) {
      socket.data?.onErrored(err.code ?? 'UNKNOWN');
    },
    close(socket, err) {
      const connection = socket.data;
      if (connection === undefined) return;
      if (err?.code !== undefined) connection.onErrored(err.code);
      connection.markDestroyed();
      try {
        connection.onClosed();
      } catch (caught) {
        connection.context.onInternalError(connection, caught);
      }
    },
  };
  // Bun binds synchronously and throws on failure (EADDRINUSE…).
  const { listener: config } = spec;
  let unix: BunListener | undefined;
  const socketFile =
    config.protocol === 'unix'
      ? await bindSocketFile(
          config.path,
          (name) => {
            unix = bun.listen({ unix: name, allowHalfOpen: true, socket: handler });
            return Promise.resolve();
          },
          () => {
            unix?.stop(true);
            return Promise.resolve();
          },
        )
      : null;
  const listener =
    unix ?? bun.listen({ hostname: config.host, port: config.port, allowHalfOpen: true, reusePort: spec.reusePort, socket: handler });
  return {
    config,
    address: () =>
      socketFile !== null
        ? { path: socketFile.path }
        : { address: listener.hostname, port: listener.port, family: listener.hostname.includes(':') ? 'IPv6' : 'IPv4' },
    stop: () => {
      listener.stop(false);
      if (socketFile !== null) removeSocketFile(socketFile);
      return Promise.resolve();
    },
  };
}

/** Bun.listen serves plain TCP and Unix sockets; TLS, UDP, PROXY headers and inherited fds use node's modules. */
export function bunCanServe(spec: ListenSpec): boolean {
  const { listener } = spec;
  return (listener.protocol === 'tcp' || listener.protocol === 'unix') && listener.proxyProtocol === 'off' && listener.fd === null;
}
