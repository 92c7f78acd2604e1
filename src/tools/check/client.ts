/**
 * The clients `echod check` drives its cases with: a byte-stream client (TCP or TLS) that keeps
 * everything it receives and says how a wait ended (never throws for what the server did), and
 * a UDP one. Every wait is bounded. With a digest asked for, a stream client also keeps the
 * digests of every byte it sent and received, as echod's `--digest` does on the other side.
 */
import { createSocket, type Socket as DatagramSocket } from 'node:dgram';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { createHexDigests, type DigestAlgorithm, type HexDigests } from '../digest.js';
import { connectErrorText, connectTimeout, stopReason } from '../connect-errors.js';
import { isResetError, type Target, tlsConnectOptions, type TransportSpec } from '../target.js';

/** A connect that failed: why, and whether it means the target cannot be reached at all. */
export interface ConnectFailure {
  reason: string;
  /** Refused, unreachable, or no answer within the timeout: what that means, in words; null otherwise. */
  unreachable: string | null;
  /** With `unreachable`: the TCP connect succeeded, the protocol on it did not (no TLS handshake). */
  reached: boolean;
}

/** How a wait for bytes ended. */
export type WaitOutcome = 'ok' | 'timeout' | 'eof' | 'reset' | 'error';

export interface Received {
  bytes: Buffer;
  outcome: WaitOutcome;
  /** For `reset` and `error`: the socket error. */
  error?: string;
}

/** Wakes waiters when something they may be waiting for happened. */
class Waiters {
  private readonly pending = new Set<() => void>();

  notify(): void {
    for (const wake of [...this.pending]) wake();
  }

  /** Resolves true once `condition()` holds, or false after `ms`. */
  until(condition: () => boolean, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (!condition()) return;
        done();
        resolve(true);
      };
      const timer = setTimeout(() => {
        done();
        resolve(false);
      }, ms);
      const done = (): void => {
        clearTimeout(timer);
        this.pending.delete(check);
      };
      this.pending.add(check);
      check();
    });
  }
}

/**
 * One connection as the client saw it, for comparison with echod's close line for the same
 * connection: there, `remotePort` is this `localPort` (when nothing sits in between), `bytesIn`
 * is `bytesSent` and `digest.received` is `digest.sent` — and the other way round.
 */
export interface ConnectionDigest {
  /** The client's end of the connection, `address:port`. */
  local: string;
  localPort: number;
  bytesSent: number;
  bytesReceived: number;
  digest: { algorithm: DigestAlgorithm; sent: string; received: string };
}

/** Every client a case opens, so the case's end can close whatever it left open. */
export class ClientSet {
  private readonly clients = new Set<{ destroy(): void }>();
  /** The stream clients, in the order they connected, for their digests. */
  private readonly streams: StreamClient[] = [];

  add<T extends { destroy(): void }>(client: T): T {
    this.clients.add(client);
    if (client instanceof StreamClient) this.streams.push(client);
    return client;
  }

  /** The digests of every stream client that keeps them, as they stand now. */
  digests(): ConnectionDigest[] {
    return this.streams.map((client) => client.digestReport()).filter((report): report is ConnectionDigest => report !== null);
  }

  /**
   * Over plain TCP, why the server may be a TLS one: a stream client got a TLS alert record back
   * (content type 21, version 3.x), or the server closed without a byte back on any of them (as a
   * TLS server does with bytes that are no TLS record). Null otherwise: silence alone is not a
   * sign (a line echo is silent to bytes without a newline).
   */
  tlsSuspicion(): string | null {
    const sent = this.streams.filter((client) => client.bytesSent > 0);
    if (sent.some((client) => client.firstBytes[0] === TLS_ALERT && client.firstBytes[1] === TLS_MAJOR_VERSION))
      return 'the server answered with a TLS alert: it is a TLS port, pass --tls';
    if (
      sent.length > 0 &&
      sent.every((client) => client.bytesReceived === 0) &&
      sent.some((client) => client.ended || client.error !== null)
    )
      return 'the server closed without a byte back: if it is a TLS port, pass --tls';
    return null;
  }

  destroyAll(): void {
    for (const client of this.clients) client.destroy();
    this.clients.clear();
    this.streams.length = 0;
  }
}

/** A TLS record's first two bytes: its content type (21, an alert) and the major version (3). */
const TLS_ALERT = 0x15;
const TLS_MAJOR_VERSION = 0x03;

export interface StreamConnectOptions {
  /** False leaves the socket paused: nothing is read until asked. @default true */
  read?: boolean;
  /** Keep digests of the bytes sent and received. @default null */
  digest?: DigestAlgorithm | null;
}

export class StreamClient {
  readonly socket: Socket;
  /** The server's FIN arrived. */
  ended = false;
  closed = false;
  error: NodeJS.ErrnoException | null = null;
  /** performance.now() when the server's FIN or an error ended the stream. */
  endedAt = 0;
  /** Bytes handed to the socket, and bytes read from it. */
  bytesSent = 0;
  bytesReceived = 0;
  /** The first two bytes received (fewer until they came). */
  firstBytes: Buffer = Buffer.alloc(0);
  /** The client's end, once connected (a closed socket forgets it). */
  local: { address: string; port: number } | null = null;
  private readonly digests: HexDigests | null;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly waiters = new Waiters();

  private constructor(socket: Socket, digest: DigestAlgorithm | null) {
    this.socket = socket;
    this.digests = digest === null ? null : createHexDigests(digest);
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.error = err;
      if (this.endedAt === 0) this.endedAt = performance.now();
      this.waiters.notify();
    });
    socket.on('end', () => {
      this.ended = true;
      if (this.endedAt === 0) this.endedAt = performance.now();
      this.waiters.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      if (this.endedAt === 0) this.endedAt = performance.now();
      this.waiters.notify();
    });
  }

  /** Connects (and, over TLS, completes the handshake). Resolves to the client, or to a string saying why not. */
  static connect(
    target: Target,
    transport: TransportSpec,
    timeoutMs: number,
    options: StreamConnectOptions = {},
  ): Promise<StreamClient | ConnectFailure> {
    const { read = true, digest = null } = options;
    return new Promise((resolve) => {
      // Half-open allowed: after the server's FIN this side closes only when the case says so.
      let socket: Socket;
      if (transport.kind === 'tls') {
        // tls.connect honours allowHalfOpen (it builds the TLSSocket with it); its types omit it.
        const options = { ...tlsConnectOptions(target, transport.tls), allowHalfOpen: true };
        socket = tlsConnect(options);
      } else {
        socket = netConnect({ host: target.address, port: target.port, noDelay: true, allowHalfOpen: true });
      }
      const client = new StreamClient(socket, digest);
      const timedOut = connectTimeout(socket, transport.kind === 'tls');
      const timer = setTimeout(() => {
        socket.destroy();
        const { why, reached } = timedOut(timeoutMs);
        resolve({ reason: why, unreachable: why, reached });
      }, timeoutMs);
      const fail = (err: NodeJS.ErrnoException): void => {
        clearTimeout(timer);
        // Reached, but not as asked (not TLS, a certificate that does not verify): the run stops too.
        const stop = stopReason(err);
        resolve({ reason: `cannot connect: ${connectErrorText(err)}`, unreachable: stop?.why ?? null, reached: stop?.reached ?? false });
      };
      socket.once('error', fail);
      socket.once(transport.kind === 'tls' ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.off('error', fail);
        socket.setNoDelay(true);
        if (socket.localAddress !== undefined && socket.localPort !== undefined)
          client.local = { address: socket.localAddress, port: socket.localPort };
        if (read) client.startReading();
        resolve(client);
      });
    });
  }

  private startReading(): void {
    this.socket.on('data', (chunk: Buffer) => this.keep(chunk));
  }

  /** Keeps bytes read from the socket, counted (and digested), and wakes whatever waits for them. */
  private keep(chunk: Buffer): void {
    if (this.firstBytes.length < 2) this.firstBytes = Buffer.concat([this.firstBytes, chunk.subarray(0, 2 - this.firstBytes.length)]);
    this.bytesReceived += chunk.length;
    this.digests?.received.update(chunk);
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    this.waiters.notify();
  }

  /**
   * This connection's byte counts and digests, or null without a digest. Bytes that arrived
   * but were not read yet (a paused socket) are read first, so `received` covers everything
   * the server's echo got this far.
   */
  digestReport(): ConnectionDigest | null {
    if (this.digests === null || this.local === null) return null;
    if (this.socket.readableFlowing !== true && !this.socket.destroyed) {
      let chunk: Buffer | null;
      while ((chunk = this.socket.read() as Buffer | null) !== null) this.keep(chunk);
    }
    const { address, port } = this.local;
    return {
      local: `${address.includes(':') ? `[${address}]` : address}:${port}`,
      localPort: port,
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      digest: { algorithm: this.digests.algorithm, sent: this.digests.sent.hex(), received: this.digests.received.hex() },
    };
  }

  get pendingBytes(): number {
    return this.buffered;
  }

  /** Writes; resolves once the bytes are handed to the kernel, or false if the socket failed first. */
  write(data: Uint8Array | string): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) {
        resolve(false);
        return;
      }
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      this.bytesSent += bytes.length;
      this.digests?.sent.update(bytes);
      this.socket.write(bytes, (err) => resolve(err == null));
    });
  }

  /** Half-closes: our FIN; the echo may keep coming. */
  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Waits for exactly `n` bytes (more stay buffered); whatever came is returned, with how the wait ended. */
  async read(n: number, timeoutMs: number): Promise<Received> {
    await this.waiters.until(() => this.buffered >= n || this.ended || this.error !== null || this.closed, timeoutMs);
    return this.take(n, this.buffered >= n ? 'ok' : this.stopReason());
  }

  /** Everything until the server's FIN (`eof`), a reset, or the timeout. */
  async readToEnd(timeoutMs: number): Promise<Received> {
    await this.waiters.until(() => this.ended || this.error !== null || this.closed, timeoutMs);
    return this.take(this.buffered, this.ended ? 'eof' : this.stopReason());
  }

  /**
   * A slow reader: takes at most `chunkBytes` every `everyMs` until `n` bytes have come; gives
   * up after `stallMs` without progress. The socket must have been connected with `read: false`.
   */
  async readSlowly(n: number, chunkBytes: number, everyMs: number, stallMs: number): Promise<Received> {
    let lastProgress = performance.now();
    this.socket.on('readable', () => this.waiters.notify());
    while (this.buffered < n) {
      let taken = 0;
      let chunk: Buffer | null;
      while (taken < chunkBytes && (chunk = this.socket.read() as Buffer | null) !== null) {
        this.keep(chunk);
        taken += chunk.length;
      }
      if (taken > 0) lastProgress = performance.now();
      if (this.buffered >= n) break;
      if (this.error !== null || this.closed || (this.ended && this.socket.readableLength === 0)) break;
      if (performance.now() - lastProgress > stallMs) break;
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
    const outcome: WaitOutcome =
      this.buffered >= n ? 'ok' : this.error !== null || this.closed || this.ended ? this.stopReason() : 'timeout';
    return this.take(Math.min(n, this.buffered), outcome);
  }

  /** Resolves true if the connection ended (FIN, reset or close) within `ms`. */
  endsWithin(ms: number): Promise<boolean> {
    return this.waiters.until(() => this.ended || this.error !== null || this.closed, ms);
  }

  private stopReason(): WaitOutcome {
    if (this.error !== null) return isResetError(this.error) ? 'reset' : 'error';
    if (this.ended || this.closed) return 'eof';
    return 'timeout';
  }

  private take(n: number, outcome: WaitOutcome): Received {
    const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.buffered);
    const count = Math.min(n, all.length);
    this.chunks = all.length > count ? [all.subarray(count)] : [];
    this.buffered = all.length - count;
    const received: Received = { bytes: all.subarray(0, count), outcome };
    if (this.error !== null && (outcome === 'reset' || outcome === 'error')) received.error = this.error.code ?? this.error.message;
    return received;
  }
}

/** A connected UDP socket that keeps every datagram it receives. */
export class DatagramClient {
  readonly datagrams: Buffer[] = [];
  error: NodeJS.ErrnoException | null = null;
  private readonly socket: DatagramSocket;
  private readonly waiters = new Waiters();

  private constructor(socket: DatagramSocket) {
    this.socket = socket;
    socket.on('message', (msg: Buffer) => {
      this.datagrams.push(msg);
      this.waiters.notify();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.error = err;
      this.waiters.notify();
    });
  }

  static connect(target: Target, timeoutMs: number): Promise<DatagramClient | string> {
    return new Promise((resolve) => {
      const socket = createSocket(target.family === 6 ? 'udp6' : 'udp4');
      const client = new DatagramClient(socket);
      const timer = setTimeout(() => {
        socket.close();
        resolve(`could not set up a UDP socket within ${timeoutMs} ms`);
      }, timeoutMs);
      socket.connect(target.port, target.address, () => {
        clearTimeout(timer);
        resolve(client);
      });
    });
  }

  send(datagram: Uint8Array): void {
    this.socket.send(datagram);
  }

  /** Resolves true once `n` datagrams in all have arrived, false after `ms` (or on an error such as ICMP port unreachable). */
  until(n: number, ms: number): Promise<boolean> {
    return this.waiters.until(() => this.datagrams.length >= n || this.error !== null, ms).then((met) => met && this.datagrams.length >= n);
  }

  destroy(): void {
    try {
      this.socket.close();
    } catch {
      // Already closed.
    }
  }
}
