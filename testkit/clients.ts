// Real loopback clients and servers for the integration tests. Everything here listens and
// connects on loopback only (127.0.0.1, or ::1 when a test asks), on port 0, and every wait
// is bounded.
import { connect as netConnect, createServer as createNetServer, type Socket } from 'node:net';
import type { EchoServerOptions } from '../src/config/options.js';
import { type ConnectionSummary, createEchoServer, type EchoServer } from '../src/server/server.js';
import type { RejectReason, ServerState } from '../src/core/stats.js';
import { poll, Waiters, within } from './wait.js';

export const HOST = '127.0.0.1';

/** The default bound on every wait in the helpers; tests pass shorter or longer ones as needed. */
export const WAIT_MS = 5000;

/** How often `Client.connectWhenOpen` tries a port that refused. */
const CONNECT_RETRY_MS = 2;

/** A TCP port on HOST that nothing listens on (bound, then closed), for a process to be told to use. */
export async function freeTcpPort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, HOST, resolve));
  const { port } = probe.address() as { port: number };
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
}

/**
 * A client socket that keeps everything it receives, so a test can ask for "the next n bytes"
 * or "everything until EOF" without racing the socket's events.
 */
export class Client {
  readonly socket: Socket;
  /** True once the server's FIN arrived (a graceful end of the echo). */
  ended = false;
  closed = false;
  error: NodeJS.ErrnoException | null = null;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly waiters = new Waiters();

  private constructor(socket: Socket) {
    this.socket = socket;
    // From the first moment: a reset from the server must never become an uncaught error.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.error = err;
      this.waiters.notify();
    });
    socket.on('connect', () => this.waiters.notify());
    socket.on('end', () => {
      this.ended = true;
      this.waiters.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiters.notify();
    });
  }

  static async connect(port: number, options: ClientOptions = {}): Promise<Client> {
    const socket = netConnect({ host: options.host ?? HOST, port, allowHalfOpen: options.allowHalfOpen ?? false, noDelay: true });
    const client = new Client(socket);
    await client.waiters.until(() => !socket.connecting || client.error !== null || client.closed, WAIT_MS, `connect to port ${port}`);
    if (client.error !== null) throw client.error;
    if (options.read ?? true) client.startReading();
    return client;
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
      await new Promise((resolve) => setTimeout(resolve, CONNECT_RETRY_MS));
    }
  }

  /** Bytes received and not yet taken by `read()` or `readToEnd()`. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Starts (or resumes) taking data from the socket into this client's buffer. */
  startReading(): void {
    if (this.socket.listenerCount('data') === 0) {
      this.socket.on('data', (chunk: Buffer) => {
        this.chunks.push(chunk);
        this.buffered += chunk.length;
        this.waiters.notify();
      });
    }
    this.socket.resume();
  }

  /** Writes and resolves once the bytes are handed to the kernel. */
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
        if (this.ended || this.closed) throw new Error(`connection ended after ${this.buffered} of ${n} bytes`);
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
  async readText(text: string, ms = WAIT_MS): Promise<string> {
    return (await this.read(Buffer.byteLength(text), ms)).toString('latin1');
  }

  /**
   * Everything up to the server's FIN. Rejects if the connection closes without one (a reset
   * is not a graceful end) or on timeout.
   */
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
  async waitClosed(ms = WAIT_MS): Promise<void> {
    await this.waiters.until(() => this.closed, ms, 'the client socket to close');
  }

  /** Half-closes: no more bytes from us; the echo keeps coming. */
  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
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
