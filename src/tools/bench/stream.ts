/**
 * A bench connection over TCP or TLS: a byte stream, echoed in order. Each chunk read is checked
 * against the ring of messages sent (payload.ts) with one comparison per contiguous run
 * (verify.ts); TCP reads land in the engine's shared buffer (`onread`), so reading allocates
 * nothing, and TCP writes go straight to the socket's handle (direct-write.ts).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { type ConnectionDigests, createDigests } from '../digest.js';
import { escapeBytes } from '../../core/escape.js';
import { plural } from '../format.js';
import { formatTarget, tlsConnectOptions } from '../target.js';
import {
  CLOSE_GRACE_MS,
  type Connection,
  DONE,
  type EngineHandle,
  IDLE,
  MEASURE,
  RECONNECT_FIRST_MS,
  RECONNECT_MAX_MS,
} from './connection.js';
import { writerFor, type Writer } from './direct-write.js';
import { connectTimeout, noConnectReason } from '../connect-errors.js';
import { classify, describeError } from './errors.js';
import { advanceSeq, newRing, seqWidth } from './payload.js';
import { sameBytes, streamMismatch, wordsOf } from './verify.js';

/** Connection-rate mode: a connection that does `roundTrips` echoes, closes, and says so. */
export interface Lifetime {
  roundTrips: number;
  /** The connection closed: after its round trips (`ok`), or on a failure (already counted). */
  finished(connection: StreamConnection, ok: boolean): void;
}

/** TCP or TLS: a byte stream, echoed in order. */
export class StreamConnection implements Connection {
  readonly id: number;
  readonly digests: ConnectionDigests | null;
  private readonly engine: EngineHandle;
  private readonly ring: Buffer;
  private readonly ringWords: Int32Array;
  /** Each slot's message as its own view, so the common one-message write allocates nothing. */
  private readonly slotViews: Buffer[];
  /** Send (open loop: intended send) time of the message in each slot, performance.now() ms. */
  private readonly sentAt: Float64Array;
  private readonly size: number;
  private readonly depth: number;
  private readonly width: number;
  private socket: Socket | null = null;
  /** Sends on `socket` once it is open: direct-write.ts for TCP, `socket.write` for TLS. */
  private write: Writer = () => {};
  private connecting = false;
  /** Why the current socket's connect has not completed, asked at a timeout (connect-errors.ts). */
  private timedOut: (timeoutMs: number) => { why: string } = (timeoutMs) => ({ why: noConnectReason(timeoutMs) });
  private sentSeq = 0;
  private recvSeq = 0;
  /** Bytes of message `recvSeq` received so far. */
  private rpos = 0;
  /** When the oldest unanswered wait began: the last send from idle, or the last bytes received. */
  private waitingSince = 0;
  private connectStarted = 0;
  private nextDue = 0;
  private readonly phaseOffset: number;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly lifetime: Lifetime | null;

  constructor(engine: EngineHandle, id: number, index: number, lifetime: Lifetime | null = null) {
    const { spec } = engine;
    this.engine = engine;
    this.lifetime = lifetime;
    this.id = id;
    this.size = spec.size;
    this.depth = spec.depth;
    this.width = seqWidth(spec.size, spec.mode);
    this.ring = newRing(spec.depth, spec.size, spec.mode, id);
    this.ringWords = wordsOf(this.ring);
    this.slotViews = Array.from({ length: spec.depth }, (_, slot) => this.ring.subarray(slot * spec.size, (slot + 1) * spec.size));
    this.sentAt = new Float64Array(spec.depth);
    this.digests = createDigests(spec.digest);
    this.phaseOffset = spec.rate !== null ? (engine.periodMs * index) / spec.connections : 0;
  }

  /** The first connect: resolves null once open, or why not (an error, or nothing within --timeout). */
  open(): Promise<string | null> {
    const { timeoutMs, target } = this.engine.spec;
    return new Promise((resolve) => {
      let settled = false;
      // The deadline scan runs only once the run has started: this bounds the connects before it.
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        const { why } = this.timedOut(timeoutMs);
        this.engine.error('timeout', this.id, `connect ${this.id}: ${why}`);
        this.drop();
        resolve(`cannot connect to ${formatTarget(target)}: ${why}`);
      }, timeoutMs);
      this.connect((failure) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(failure);
      });
    });
  }

  begin(now: number): void {
    this.nextDue = now + this.phaseOffset;
    this.refill(now);
  }

  private connect(opened: (failure: string | null) => void): void {
    const { spec } = this.engine;
    const { target } = spec;
    this.connecting = true;
    this.connectStarted = performance.now();
    let socket: Socket;
    const onOpen = (): void => {
      this.write = spec.transport.kind === 'tls' ? (data) => void socket.write(data) : writerFor(socket);
      this.connecting = false;
      this.failures = 0;
      this.engine.open++;
      opened(null);
    };
    if (spec.transport.kind === 'tls') {
      socket = tlsConnect({ ...tlsConnectOptions(target, spec.transport.tls) }, onOpen);
      socket.setNoDelay(true);
      socket.on('data', (chunk: Buffer) => {
        if (this.socket === socket) this.received(chunk, null, chunk.length);
      });
    } else {
      const buffer = this.engine.readBuffer;
      const words = this.engine.readWords;
      socket = netConnect(
        {
          host: target.address,
          port: target.port,
          noDelay: true,
          onread: {
            buffer,
            callback: (nread: number): boolean => {
              if (this.socket === socket) this.received(buffer, words, nread);
              return true;
            },
          },
        },
        onOpen,
      );
    }
    this.socket = socket;
    this.timedOut = connectTimeout(socket, spec.transport.kind === 'tls');
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (this.socket !== socket) return;
      const wasConnecting = this.connecting;
      const kind = classify(err, wasConnecting);
      this.engine.error(kind, this.id, `${wasConnecting ? 'connect' : 'connection'} ${this.id}: ${describeError(err)}`);
      if (wasConnecting && this.engine.phase === IDLE) {
        this.drop();
        opened(`cannot connect to ${formatTarget(target)}: ${describeError(err)}`);
        return;
      }
      this.restart();
    });
    socket.on('end', () => {
      if (this.socket !== socket) return;
      const outstanding = this.sentSeq - this.recvSeq;
      if (outstanding > 0 || this.rpos > 0 || this.engine.sending) {
        this.engine.error(
          'truncated',
          this.id,
          outstanding > 0
            ? `connection ${this.id}: the server closed with ${plural(outstanding, 'message')} not echoed (${this.rpos} of ${this.size} bytes of the first)`
            : `connection ${this.id}: the server closed the connection`,
          { seq: this.recvSeq },
        );
      }
      this.restart();
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      // Closed without 'end' or 'error' (cannot normally happen): still a lost connection.
      if (this.engine.sending) this.engine.error('other', this.id, `connection ${this.id}: closed`);
      this.restart();
    });
  }

  /** Checks one chunk against the ring, completes the messages it finishes, sends more. */
  private received(buf: Buffer, words: Int32Array | null, n: number): void {
    const now = performance.now();
    this.waitingSince = now;
    if (this.digests !== null) this.digests.received.update(buf, 0, n);
    const { ring, ringWords, size, depth, engine, sentAt } = this;
    let off = 0;
    while (off < n) {
      const outstanding = this.sentSeq - this.recvSeq;
      if (outstanding === 0) {
        engine.error(
          'extra',
          this.id,
          `connection ${this.id}: ${plural(n - off, 'byte')} arrived that ${n - off === 1 ? 'was' : 'were'} never sent: "${escapeBytes(buf.subarray(off, Math.min(n, off + 32)))}"`,
          { seq: this.recvSeq },
        );
        this.restart();
        return;
      }
      const slot = this.recvSeq % depth;
      const ringPos = slot * size + this.rpos;
      // The outstanding bytes that lie contiguously in the ring from here: checked in one call.
      const contiguous = Math.min(depth - slot, outstanding) * size - this.rpos;
      const take = contiguous < n - off ? contiguous : n - off;
      if (!sameBytes(buf, words, off, ring, ringWords, ringPos, take)) {
        this.mismatch(buf, off, take, slot);
        return;
      }
      off += take;
      const through = this.rpos + take;
      const done = (through - (through % size)) / size;
      this.rpos = through % size;
      for (let i = 0; i < done; i++) engine.completed(now, sentAt[slot + i] as number);
      this.recvSeq += done;
      engine.inflight -= done;
      // The last counted message may have ended the run, and closed this socket with it.
      if (engine.phase === DONE) return;
    }
    if (this.lifetime !== null && this.recvSeq === this.lifetime.roundTrips) {
      this.closeGracefully(() => {});
      this.lifetime.finished(this, true);
      return;
    }
    if (engine.sending) this.refill(now);
    else if (this.sentSeq === this.recvSeq) engine.settled();
  }

  refill(now: number): void {
    const socket = this.socket;
    if (socket === null || this.connecting) return;
    const engine = this.engine;
    const depth = this.depth;
    let k = depth - (this.sentSeq - this.recvSeq);
    if (k <= 0) return;
    const budget = engine.budget();
    if (budget < k) k = budget;
    if (this.lifetime !== null && this.lifetime.roundTrips - this.sentSeq < k) k = this.lifetime.roundTrips - this.sentSeq;
    const open = engine.spec.rate !== null;
    if (open) {
      // Only the messages whose time has come; each one's clock starts at its intended time.
      let due = 0;
      let t = this.nextDue;
      while (due < k && t <= now) {
        due++;
        t += engine.periodMs;
      }
      k = due;
    }
    if (k <= 0) return;
    if (this.sentSeq === this.recvSeq) this.waitingSince = now;
    const { ring, size, width, sentAt } = this;
    const first = this.sentSeq % depth;
    for (let i = 0; i < k; i++) {
      const seq = this.sentSeq + i;
      const slot = seq % depth;
      advanceSeq(ring, slot * size, width, seq, seq - depth);
      if (open) {
        sentAt[slot] = this.nextDue;
        const lag = now - this.nextDue;
        if (lag > engine.maxSendLagMs && engine.phase === MEASURE) engine.maxSendLagMs = lag;
        this.nextDue += engine.periodMs;
      } else {
        sentAt[slot] = now;
      }
    }
    this.sentSeq += k;
    engine.inflight += k;
    engine.sent += k;
    if (this.digests !== null) this.digest(first, k);
    const write = this.write;
    if (k === 1) {
      write(this.slotViews[first] as Buffer);
    } else if (first + k <= depth) {
      write(first === 0 && k === depth ? ring : ring.subarray(first * size, (first + k) * size));
    } else {
      write(ring.subarray(first * size));
      write(ring.subarray(0, (first + k - depth) * size));
    }
  }

  private digest(first: number, k: number): void {
    const { ring, size, depth } = this;
    const sent = (this.digests as ConnectionDigests).sent;
    const end = Math.min(depth, first + k);
    sent.update(ring, first * size, end * size);
    if (first + k > depth) sent.update(ring, 0, (first + k - depth) * size);
  }

  private mismatch(buf: Buffer, off: number, take: number, slot: number): void {
    const { seq, difference } = streamMismatch(this.ring, this.size, slot, this.rpos, this.recvSeq, buf, off, take);
    this.engine.error('mismatch', this.id, `connection ${this.id}, message ${seq}: ${difference?.summary ?? 'bytes differ'}`, {
      seq,
      ...(difference !== null ? { difference } : {}),
    });
    this.restart();
  }

  checkDeadline(now: number): void {
    if (this.socket === null) return;
    const { timeoutMs } = this.engine.spec;
    if (this.connecting) {
      if (now - this.connectStarted > timeoutMs) {
        this.engine.error('timeout', this.id, `connection ${this.id}: connect took longer than ${timeoutMs} ms`);
        this.restart();
      }
      return;
    }
    if (this.sentSeq !== this.recvSeq && now - this.waitingSince > timeoutMs) {
      // Raw messages hold newlines anywhere: a line server keeps the bytes after the last one.
      const hint =
        this.engine.spec.mode === 'raw' ? ' (--mode raw needs a raw echo; a line echo holds back bytes after the last newline)' : '';
      this.engine.error(
        'timeout',
        this.id,
        `connection ${this.id}: no echo for ${timeoutMs} ms with ${plural(this.sentSeq - this.recvSeq, 'message')} outstanding${hint}`,
        { seq: this.recvSeq },
      );
      this.restart();
    }
  }

  /** Forgets the socket and what was outstanding on it (already counted as an error). */
  private drop(): void {
    const socket = this.socket;
    if (socket === null) return;
    this.socket = null;
    if (!this.connecting) this.engine.open--;
    this.connecting = false;
    socket.destroy();
    this.engine.inflight -= this.sentSeq - this.recvSeq;
    this.recvSeq = this.sentSeq;
    this.rpos = 0;
  }

  /** After a failure: a fresh connection (same id; sequence numbers go on), unless the run is ending. */
  private restart(): void {
    this.drop();
    if (this.lifetime !== null) {
      this.lifetime.finished(this, false);
      return;
    }
    const engine = this.engine;
    if (!engine.sending) {
      engine.settled();
      return;
    }
    this.failures++;
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** Math.min(this.failures - 1, 10));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!engine.sending) return;
      this.connect((failure) => {
        if (failure === null) {
          engine.reconnects++;
          // Open loop: the schedule is kept, so the messages due during the outage go out late
          // and their latency says so (no coordinated omission).
          this.refill(performance.now());
        }
      });
    }, delay);
  }

  close(destroy: boolean): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    if (destroy) this.drop();
  }

  closeGracefully(done: () => void): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    const socket = this.socket;
    if (socket === null || this.connecting) {
      this.drop();
      done();
      return;
    }
    this.socket = null;
    this.engine.open--;
    const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
    socket.once('close', () => {
      clearTimeout(timer);
      done();
    });
    socket.on('error', () => {});
    socket.end();
  }
}
