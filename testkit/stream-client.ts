// Clients over TLS (node:tls) and Unix sockets for the protocol suites, with the same
// "keep everything received, wait for the next n bytes" shape as `Client` in clients.js.
// Every socket has an 'error' listener from its first moment; every wait is bounded.
import { connect as netConnect, type Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect, type TLSSocket } from 'node:tls';
import { HOST, WAIT_MS } from './clients.js';
import { Waiters } from './wait.js';

export class StreamClient<S extends Socket = Socket> {
  readonly socket: S;
  /** The TLS handshake completed (as far as this client can tell). */
  secure = false;
  ended = false;
  closed = false;
  error: NodeJS.ErrnoException | null = null;
  /** Every byte received so far, including those already taken by `read()`. */
  receivedBytes = 0;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly waiters = new Waiters();

  private constructor(socket: S) {
    this.socket = socket;
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.error = err;
      this.waiters.notify();
    });
    socket.on('connect', () => this.waiters.notify());
    socket.on('secureConnect', () => {
      this.secure = true;
      this.waiters.notify();
    });
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      this.receivedBytes += chunk.length;
      this.waiters.notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.waiters.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiters.notify();
    });
  }

  /**
   * A TLS client, resolved once its handshake completes (rejects if it fails). Defaults:
   * 127.0.0.1, no certificate check; pass `ca` and `servername` to verify the server.
   */
  static async tls(port: number, options: ConnectionOptions = {}): Promise<StreamClient<TLSSocket>> {
    const client = StreamClient.tlsAttempt(port, options);
    await client.waiters.until(() => client.secure || client.error !== null || client.closed, WAIT_MS, `TLS handshake with port ${port}`);
    if (!client.secure) throw client.error ?? new Error('closed before the TLS handshake completed');
    return client;
  }

  /** A TLS client, not waiting for the handshake (for clients the server is expected to refuse). */
  static tlsAttempt(port: number, options: ConnectionOptions = {}): StreamClient<TLSSocket> {
    return new StreamClient(tlsConnect({ host: HOST, port, rejectUnauthorized: false, ...options }));
  }

  /** A client of a Unix socket, resolved once connected. */
  static async unix(path: string): Promise<StreamClient> {
    const client = new StreamClient(netConnect({ path }));
    await client.waiters.until(() => !client.socket.connecting || client.error !== null || client.closed, WAIT_MS, `connect to ${path}`);
    if (client.error !== null) throw client.error;
    return client;
  }

  /** Writes and resolves once the bytes are handed to the transport. */
  write(data: string | Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(data, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Resolves to exactly the next `n` bytes; rejects if the connection ends first or on timeout. */
  async read(n: number, ms = WAIT_MS): Promise<Buffer> {
    await this.waiters.until(
      () => {
        if (this.buffered >= n) return true;
        if (this.ended || this.closed) throw new Error(`connection ended after ${this.buffered} of ${n} bytes (${this.error?.code ?? 'no error'})`);
        return false;
      },
      ms,
      `${n} bytes (have ${this.buffered})`,
    );
    const all = Buffer.concat(this.chunks, this.buffered);
    this.chunks = all.length > n ? [all.subarray(n)] : [];
    this.buffered = all.length - n;
    return all.subarray(0, n);
  }

  /** Everything up to the server's EOF; rejects if the connection closes without one, or on timeout. */
  async readToEnd(ms = WAIT_MS): Promise<Buffer> {
    await this.waiters.until(
      () => {
        if (this.ended) return true;
        if (this.closed) throw new Error(`connection closed without EOF (${this.error?.code ?? 'no error'})`);
        return false;
      },
      ms,
      'EOF from the server',
    );
    const all = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [];
    this.buffered = 0;
    return all;
  }

  /** Resolves once the socket has closed, however it closed. */
  waitClosed(ms = WAIT_MS): Promise<void> {
    return this.waiters.until(() => this.closed, ms, 'the client socket to close');
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Writes `data` and resolves to the next as many bytes received (the test compares them). */
export async function echoOf(client: { write(data: Buffer): Promise<void>; read(n: number, ms?: number): Promise<Buffer> }, data: string | Buffer): Promise<Buffer> {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  await client.write(bytes);
  return client.read(bytes.length);
}
