// Loopback clients for the scenarios: a socket wrapper that keeps (or hashes) what it
// receives so a scenario can ask for "the next n bytes" or "everything until EOF" without
// racing the socket's events, a writer that respects backpressure, and bounded fan-out.
import { createHash, type Hash } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { HOST } from './echod.js';
import { firstEvent, Waiters } from './wait.js';

/** The default bound on a connect or a read. */
export const CLIENT_WAIT_MS = 10_000;

export interface PeerOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** Keep our side open after the server's FIN. @default false */
  allowHalfOpen?: boolean;
  /** Read from the start. A client that never reads passes false. @default true */
  read?: boolean;
  /** Keep the received bytes (for `read()`/`readToEnd()`); false only counts and hashes them. @default true */
  keep?: boolean;
  /** Keep a sha256 of everything received (see `digest()`). @default false */
  hash?: boolean;
  /** Sees every chunk as it arrives (before it is kept). */
  onData?: (chunk: Buffer) => void;
}

/** One client connection that records what it receives and how it ended. */
export class Peer {
  readonly socket: Socket;
  ended = false;
  closed = false;
  error: NodeJS.ErrnoException | null = null;
  /** Every byte received so far (kept or not). */
  receivedBytes = 0;
  /** Our port, as echod logs it (`remotePort`); kept because the socket forgets it once closed. */
  localPort = 0;
  /** When the server's FIN or the close arrived (performance.now()), or -1. */
  endedAt = -1;
  closedAt = -1;
  private readonly keep: boolean;
  private readonly onData: ((chunk: Buffer) => void) | undefined;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly hash: Hash | null;
  private readonly waiters = new Waiters();

  private constructor(socket: Socket, options: PeerOptions) {
    this.socket = socket;
    this.keep = options.keep ?? true;
    this.onData = options.onData;
    this.hash = options.hash === true ? createHash('sha256') : null;
    // From the first moment: a reset must never become an uncaught exception.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.error ??= err;
      this.waiters.notify();
    });
    socket.on('connect', () => this.waiters.notify());
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

  /** Connects (bounded); rejects with the socket's error if it cannot. */
  static async connect(port: number, options: PeerOptions = {}, ms = CLIENT_WAIT_MS): Promise<Peer> {
    const socket = netConnect({ host: options.host ?? HOST, port, allowHalfOpen: options.allowHalfOpen ?? false, noDelay: true });
    const peer = new Peer(socket, options);
    try {
      await peer.waiters.until(() => !socket.connecting || peer.error !== null || peer.closed, ms, `connect to port ${port}`);
    } catch (err) {
      socket.destroy();
      throw err;
    }
    if (peer.error !== null) throw peer.error;
    peer.localPort = socket.localPort ?? 0;
    if (options.read ?? true) peer.startReading();
    return peer;
  }

  /** sha256 of every byte received so far (hex), with `hash: true`. Call once, at the end. */
  digest(): string {
    if (this.hash === null) throw new Error('digest() needs a Peer connected with { hash: true }');
    return this.hash.digest('hex');
  }

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

  /** Writes and resolves once the bytes are handed to the kernel. */
  write(data: string | Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(data, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Resolves to exactly the next `n` bytes; rejects if the connection ends first or on timeout. */
  async read(n: number, ms = CLIENT_WAIT_MS): Promise<Buffer> {
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

  /** Everything kept and not yet taken, now. */
  take(): Buffer {
    const all = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [];
    this.buffered = 0;
    return all;
  }

  /** Waits for the server's FIN (rejects on a close without one, or on timeout), then `take()`. */
  async readToEnd(ms = CLIENT_WAIT_MS): Promise<Buffer> {
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
  async waitEndOrClose(ms = CLIENT_WAIT_MS): Promise<void> {
    await this.waiters.until(() => this.ended || this.closed, ms, 'EOF or close');
  }

  async waitClosed(ms = CLIENT_WAIT_MS): Promise<void> {
    await this.waiters.until(() => this.closed, ms, 'the client socket to close');
  }

  until(condition: () => boolean, ms: number, what: string): Promise<void> {
    return this.waiters.until(condition, ms, what);
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
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
