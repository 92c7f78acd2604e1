// Real loopback clients and servers for the tests, the reliability scenarios and the soak:
// one client (TCP, TLS, Unix socket) that keeps, counts or hashes what it receives, a writer
// that respects backpressure, bounded fan-out, and an in-process echo server fixture.
// Everything here listens and connects on loopback only (127.0.0.1, or ::1 when a test asks),
// on port 0, and every wait is bounded.
import assert from 'node:assert/strict';
import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import { connect as netConnect, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { EchoServerOptions } from '../src/config/options.js';
import { type ConnectionSummary, createEchoServer, type EchoServer } from '../src/server/server.js';
import type { RejectReason, ServerState } from '../src/core/stats.js';
import { delay, firstEvent, poll, Waiters, within } from './wait.js';

export const HOST = '127.0.0.1';

/** The default bound on every wait in the helpers; tests pass shorter or longer ones as needed. */
export const WAIT_MS = 5000;

/** The bound on a connect or a read under heavy load (the reliability scenarios, the soak). */
export const LOADED_WAIT_MS = 10_000;

/** How often `Client.connectWhenOpen` tries a port that refused. */
const CONNECT_RETRY_MS = 2;

/** A listener on HOST, port 0, holding its port: a port a test can name that is surely taken. Close it when done. */
export async function holdTcpPort(): Promise<Server> {
  const server = createNetServer();
  server.listen(0, HOST);
  await once(server, 'listening');
  return server;
}

/** The port a listening server is bound to. */
export function portOf(server: Server): number {
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object', 'the server is listening on a TCP port');
  return address.port;
}

/** A TCP port on HOST that nothing listens on (bound, then closed), for a process to be told to use. */
export async function freeTcpPort(): Promise<number> {
  const probe = await holdTcpPort();
  const port = portOf(probe);
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

export interface ClientOptions {
  /** Keep our side open after the server's FIN (as a client that never closes). @default false */
  allowHalfOpen?: boolean;
  /** Start reading at once. A client that never reads passes false. @default true */
  read?: boolean;
  /** Where to connect: 127.0.0.1, or ::1 for a server listening there. @default HOST */
  host?: string;
  /** Keep the received bytes (for `read()`/`readToEnd()`); false only counts and hashes them. @default true */
  keep?: boolean;
  /** Keep a sha256 of everything received (see `digest()`). @default false */
  hash?: boolean;
  /** Sees every chunk as it arrives (before it is kept). */
  onData?: (chunk: Buffer) => void;
  /** The default bound on this client's connect and reads (scenarios under load pass more). @default WAIT_MS */
  waitMs?: number;
}

/**
 * A client socket (TCP, TLS or a Unix socket) that keeps everything it receives, so a test can
 * ask for "the next n bytes" or "everything until EOF" without racing the socket's events.
 * Every socket has an 'error' listener from its first moment; every wait is bounded.
 */
export class Client<S extends Socket = Socket> {
  readonly socket: S;
  /** True once the server's FIN arrived (a graceful end of the echo). */
  ended = false;
  closed = false;
  /** The TLS handshake completed (TLS clients only). */
  secure = false;
  /** The socket's first error, if any. */
  error: NodeJS.ErrnoException | null = null;
  /** Every byte received so far, including those already taken (kept or not). */
  receivedBytes = 0;
  /** Our port, as echod logs it (`remotePort`); kept because the socket forgets it once closed. */
  localPort = 0;
  /** When the server's FIN or the close arrived (performance.now()), or -1. */
  endedAt = -1;
  closedAt = -1;
  /** The default bound on this client's waits. */
  readonly waitMs: number;
  private readonly keep: boolean;
  private readonly onData: ((chunk: Buffer) => void) | undefined;
  private readonly hash: Hash | null;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly waiters = new Waiters();

  protected constructor(socket: S, options: ClientOptions) {
    this.socket = socket;
    this.waitMs = options.waitMs ?? WAIT_MS;
    this.keep = options.keep ?? true;
    this.onData = options.onData;
    this.hash = options.hash === true ? createHash('sha256') : null;
    // From the first moment: a reset from the server must never become an uncaught error.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.error ??= err;
      this.waiters.notify();
    });
    socket.on('connect', () => {
      this.localPort = socket.localPort ?? 0;
      this.waiters.notify();
    });
    socket.on('secureConnect', () => {
      this.secure = true;
      this.waiters.notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.endedAt = performance.now();
      this.waiters.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.closedAt = performance.now();
      this.waiters.notify();
    });
  }

  /** A TCP client, resolved once connected; rejects with the socket's error if it cannot. */
  static async connect(port: number, options: ClientOptions = {}): Promise<Client> {
    const socket = netConnect({ host: options.host ?? HOST, port, allowHalfOpen: options.allowHalfOpen ?? false, noDelay: true });
    return Client.connected(new Client(socket, options), `connect to port ${port}`, options);
  }

  /**
   * Connects as soon as something listens on `port`: a refusal (ECONNREFUSED: nothing bound yet)
   * is retried every CONNECT_RETRY_MS until `ms`; any other error fails. No event announces a
   * port opening in another process, so this polls.
   */
  static async connectWhenOpen(port: number, ms = WAIT_MS): Promise<Client> {
    const deadline = Date.now() + ms;
    for (;;) {
      try {
        return await Client.connect(port);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ECONNREFUSED' || Date.now() > deadline) throw err;
      }
      await delay(CONNECT_RETRY_MS);
    }
  }

  /**
   * A TLS client, resolved once its handshake completes (rejects if it fails). Defaults:
   * 127.0.0.1, no certificate check; pass `ca` and `servername` to verify the server.
   */
  static async tls(port: number, options: ConnectionOptions = {}, clientOptions: ClientOptions = {}): Promise<Client<TLSSocket>> {
    const client = Client.tlsAttempt(port, options, clientOptions);
    await client.waiters.until(
      () => client.secure || client.error !== null || client.closed,
      client.waitMs,
      `TLS handshake with port ${port}`,
    );
    if (!client.secure) throw client.error ?? new Error('closed before the TLS handshake completed');
    return client;
  }

  /** A TLS client, not waiting for the handshake (for clients the server is expected to refuse). */
  static tlsAttempt(port: number, options: ConnectionOptions = {}, clientOptions: ClientOptions = {}): Client<TLSSocket> {
    const client = new Client(tlsConnect({ host: HOST, port, rejectUnauthorized: false, ...options }), clientOptions);
    if (clientOptions.read ?? true) client.startReading();
    return client;
  }

  /** A client of a Unix socket, resolved once connected. */
  static async unix(path: string, options: ClientOptions = {}): Promise<Client> {
    return Client.connected(
      new Client(netConnect({ path, allowHalfOpen: options.allowHalfOpen ?? false }), options),
      `connect to ${path}`,
      options,
    );
  }

  private static async connected<T extends Socket>(client: Client<T>, what: string, options: ClientOptions): Promise<Client<T>> {
    try {
      await client.waiters.until(() => !client.socket.connecting || client.error !== null || client.closed, client.waitMs, what);
    } catch (err) {
      client.socket.destroy();
      throw err;
    }
    if (client.error !== null) throw client.error;
    if (options.read ?? true) client.startReading();
    return client;
  }

  /** Bytes received and not yet taken by `read()`, `take()` or `readToEnd()`. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** sha256 of every byte received so far (hex), with `hash: true`. Call once, at the end. */
  digest(): string {
    if (this.hash === null) throw new Error('digest() needs a Client connected with { hash: true }');
    return this.hash.digest('hex');
  }

  /** Starts (or resumes) taking data from the socket into this client's buffer. */
  startReading(): void {
    if (this.socket.listenerCount('data') === 0) {
      this.socket.on('data', (chunk: Buffer) => {
        this.receivedBytes += chunk.length;
        this.hash?.update(chunk);
        this.onData?.(chunk);
        if (this.keep) {
          this.chunks.push(chunk);
          this.buffered += chunk.length;
        }
        this.waiters.notify();
      });
    }
    this.socket.resume();
  }

  /** Writes and resolves once the bytes are handed to the kernel (or the TLS layer). */
  write(data: string | Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(data, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Resolves to exactly the next `n` bytes; rejects if the connection ends first or on timeout. */
  async read(n: number, ms = this.waitMs): Promise<Buffer> {
    await this.waiters.until(
      () => {
        if (this.buffered >= n) return true;
        if (this.ended || this.closed)
          throw new Error(`connection ended after ${this.buffered} of ${n} bytes (${this.error?.code ?? 'no error'})`);
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

  /** The next `text.length` bytes, as text (for ASCII test data). */
  async readText(text: string, ms = this.waitMs): Promise<string> {
    return (await this.read(Buffer.byteLength(text), ms)).toString('latin1');
  }

  /** Everything kept and not yet taken, now. */
  take(): Buffer {
    const all = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [];
    this.buffered = 0;
    return all;
  }

  /**
   * Everything up to the server's FIN. Rejects if the connection closes without one (a reset
   * is not a graceful end) or on timeout.
   */
  async readToEnd(ms = this.waitMs): Promise<Buffer> {
    await this.waiters.until(
      () => {
        if (this.ended) return true;
        if (this.closed) throw new Error(`connection closed without EOF (${this.error?.code ?? 'no error'})`);
        return false;
      },
      ms,
      'EOF from the server',
    );
    return this.take();
  }

  /** Resolves once the server's FIN arrived or the socket closed, whichever is first. */
  async waitEndOrClose(ms = this.waitMs): Promise<void> {
    await this.waiters.until(() => this.ended || this.closed, ms, 'EOF or close');
  }

  /** Resolves once the socket has closed, however it closed. */
  async waitClosed(ms = this.waitMs): Promise<void> {
    await this.waiters.until(() => this.closed, ms, 'the client socket to close');
  }

  /** Waits for `condition`, re-checked on every event of this socket. */
  until(condition: () => boolean, ms: number, what: string): Promise<void> {
    return this.waiters.until(condition, ms, what);
  }

  /** Half-closes: no more bytes from us; the echo keeps coming. */
  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Writes `text` and asserts exactly it comes back. */
export async function echoes(client: Client, text: string | Buffer, ms = WAIT_MS): Promise<void> {
  const data = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  await client.write(data);
  const back = await client.read(data.length, ms);
  assert.ok(back.equals(data), `echo of ${data.length} bytes differs: ${JSON.stringify(back.toString('latin1').slice(0, 80))}`);
}

/** Writes `data` and resolves to the next as many bytes received (the test compares them). */
export async function echoOf(
  client: { write(data: Buffer): Promise<void>; read(n: number, ms?: number): Promise<Buffer> },
  data: string | Buffer,
): Promise<Buffer> {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  await client.write(bytes);
  return client.read(bytes.length);
}

export interface PumpResult {
  /** Bytes handed to `write()`. */
  offered: number;
  /** Bytes the kernel took (write callbacks without error). */
  flushed: number;
}

/**
 * Writes `total` bytes, `chunk` (or the front of it) at a time, waiting for 'drain' whenever
 * the socket says stop; gives up early if the socket ends, errors or closes, or when `stop()`
 * says so. `onFlushed` sees the running flushed count after each chunk leaves.
 */
export async function pump(
  socket: Socket,
  total: number,
  chunk: Buffer,
  options: { stop?: () => boolean; waitMs?: number; onFlushed?: (flushed: number) => void } = {},
): Promise<PumpResult> {
  const result: PumpResult = { offered: 0, flushed: 0 };
  const waitMs = options.waitMs ?? 60_000;
  while (result.offered < total && !socket.destroyed && socket.writable && options.stop?.() !== true) {
    const piece = total - result.offered >= chunk.length ? chunk : chunk.subarray(0, total - result.offered);
    result.offered += piece.length;
    const more = socket.write(piece, (err) => {
      if (err) return;
      result.flushed += piece.length;
      options.onFlushed?.(result.flushed);
    });
    if (!more) await firstEvent(socket, ['drain', 'close', 'error'], waitMs, 'the socket to drain or close');
  }
  return result;
}

/** Runs `task(0) … task(count - 1)` with at most `limit` in flight; resolves to their results in order. */
export async function mapLimit<T>(count: number, limit: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      results[index] = await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  return results;
}

/** Bytes of `length` with a `\n` every `lineBytes` (the last byte of each line). */
export function lineBlock(length: number, lineBytes: number, fill = 0x61): Buffer {
  const block = Buffer.alloc(length, fill);
  for (let i = lineBytes - 1; i < length; i += lineBytes) block[i] = 0x0a;
  return block;
}

/** Complete lines (newlines) in `data`. */
export function countLines(data: Buffer): number {
  let count = 0;
  for (let i = data.indexOf(0x0a); i !== -1; i = data.indexOf(0x0a, i + 1)) count++;
  return count;
}

/** Records the server's events as they happen, and lets a test wait for them. */
export class ServerEvents {
  readonly states: ServerState[] = [];
  readonly opened: number[] = [];
  readonly closes: ConnectionSummary[] = [];
  readonly rejects: RejectReason[] = [];
  private readonly waiters = new Waiters();

  constructor(server: EchoServer) {
    server.on('state', (state) => this.record(this.states, state));
    server.on('connection', (id) => this.record(this.opened, id));
    server.on('connectionClose', (summary) => this.record(this.closes, summary));
    server.on('reject', (reason) => this.record(this.rejects, reason));
  }

  until(condition: () => boolean, ms: number, what: string): Promise<void> {
    return this.waiters.until(condition, ms, what);
  }

  /** Waits until `n` connections in all have been accepted. */
  opens(n: number, ms = WAIT_MS): Promise<void> {
    return this.until(() => this.opened.length >= n, ms, `${n} accepted connections (have ${this.opened.length})`);
  }

  /** Waits until `n` connections in all have closed; resolves to their summaries. */
  async closed(n: number, ms = WAIT_MS): Promise<ConnectionSummary[]> {
    await this.until(() => this.closes.length >= n, ms, `${n} closed connections (have ${this.closes.length})`);
    return this.closes.slice(0, n);
  }

  /** Waits for the close of the connection with this id. */
  async closeOf(id: number, ms = WAIT_MS): Promise<ConnectionSummary> {
    await this.until(() => this.closes.some((summary) => summary.id === id), ms, `connection ${id} to close`);
    return this.closes.find((summary) => summary.id === id) as ConnectionSummary;
  }

  private record<T>(list: T[], value: T): void {
    list.push(value);
    this.waiters.notify();
  }
}

/**
 * One test's server and clients. `cleanup()` (for `afterEach`) destroys every client, then
 * closes the server; both are safe to repeat.
 */
export class Fixture {
  readonly server: EchoServer;
  readonly events: ServerEvents;
  readonly clients: Client[] = [];
  port = 0;

  private constructor(server: EchoServer) {
    this.server = server;
    this.events = new ServerEvents(server);
  }

  /** A server on 127.0.0.1, port 0, with `options` on top, listening. */
  static async start(options: EchoServerOptions = {}): Promise<Fixture> {
    const fixture = new Fixture(createEchoServer({ host: HOST, port: 0, ...options }));
    fixture.port = (await fixture.server.listen()).port;
    return fixture;
  }

  /** A client connected and accepted: resolves once the server has emitted `connection` for it. */
  async connect(options: ClientOptions = {}): Promise<Client> {
    const accepted = this.events.opened.length + 1;
    const client = await this.client(options);
    await this.events.opens(accepted);
    return client;
  }

  /** A client connected, without waiting for the server to accept it (it may be rejected). */
  async client(options: ClientOptions = {}): Promise<Client> {
    const client = await Client.connect(this.port, options);
    this.clients.push(client);
    return client;
  }

  async cleanup(): Promise<void> {
    for (const client of this.clients.splice(0)) client.destroy();
    await within(this.server.close(), WAIT_MS * 2, 'server.close() in cleanup');
  }
}

/** How long the server's byte count must stand still to count as "not reading". */
const QUIET_MS = 50;

/**
 * Resolves once the server has stopped reading (its received-byte count stands still for a
 * while): how a test knows the server is blocked on a client that does not take its echo.
 * Nothing announces this as an event, so it is polled, with a deadline.
 */
export async function untilServerStopsReading(server: EchoServer, ms = WAIT_MS): Promise<number> {
  let last = -1;
  let since = performance.now();
  await poll(
    () => {
      const now = server.stats.bytesReceived;
      if (now !== last || now === 0) {
        last = now;
        since = performance.now();
        return false;
      }
      return performance.now() - since >= QUIET_MS;
    },
    ms,
    'the server to stop reading',
  );
  return last;
}
