/**
 * A bench socket over UDP: each message one datagram, matched by its sequence number; each slot
 * runs its own closed loop, since datagrams may be lost or reordered. A datagram with no echo by
 * the engine's loss deadline (loss-deadline.ts) is counted lost and its slot sends the next one;
 * an echo that comes after that is counted late, not as a stranger.
 */
import { createSocket, type Socket as DatagramSocket } from 'node:dgram';
import { type ConnectionDigests, createDigests } from '../digest.js';
import { escapeBytes } from '../../core/escape.js';
import { bytesLong } from '../format.js';
import { formatTarget } from '../target.js';
import { type Connection, type EngineHandle, MEASURE } from './connection.js';
import { describeError } from './errors.js';
import type { LossDeadline } from './loss-deadline.js';
import { advanceSeq, newRing, readSeq, SEQ_DIGITS } from './payload.js';
import { datagramMismatch } from './verify.js';

/**
 * Datagrams counted lost whose late echo is still recognised, per socket; past this, the oldest
 * are forgotten (an echo of one of those is `unexpected`).
 */
const REMEMBERED_LOSSES = 4096;

/** UDP: each message one datagram; each slot runs its own closed loop, since datagrams may be lost or reordered. */
export class DatagramConnection implements Connection {
  readonly id: number;
  readonly digests: ConnectionDigests | null;
  private readonly engine: EngineHandle;
  private readonly ring: Buffer;
  private readonly sentAt: Float64Array;
  /** When each slot's datagram actually left (for the loss deadline). */
  private readonly leftAt: Float64Array;
  /** The sequence number outstanding in each slot, or -1. */
  private readonly slotSeq: Float64Array;
  /** The next sequence number of each slot: slot, slot + depth, slot + 2 × depth, … */
  private readonly slotNext: Float64Array;
  private readonly free: number[] = [];
  /** The engine's loss deadline, which every echo's round trip refines. */
  private readonly deadline: LossDeadline;
  /** Datagrams counted lost, by sequence number: when each left (oldest first). */
  private readonly lost = new Map<number, number>();
  private readonly size: number;
  private readonly depth: number;
  private socket: DatagramSocket | null = null;
  private connected = false;
  private nextDue = 0;
  private readonly phaseOffset: number;

  constructor(engine: EngineHandle, id: number, index: number, deadline: LossDeadline) {
    const { spec } = engine;
    this.engine = engine;
    this.deadline = deadline;
    this.id = id;
    this.size = spec.size;
    this.depth = spec.depth;
    this.ring = newRing(spec.depth, spec.size, spec.mode, id);
    this.sentAt = new Float64Array(spec.depth);
    this.leftAt = new Float64Array(spec.depth);
    this.slotSeq = new Float64Array(spec.depth).fill(-1);
    this.slotNext = Float64Array.from({ length: spec.depth }, (_, slot) => slot);
    for (let slot = spec.depth - 1; slot >= 0; slot--) this.free.push(slot);
    this.digests = createDigests(spec.digest);
    this.phaseOffset = spec.rate !== null ? (engine.periodMs * index) / spec.connections : 0;
  }

  open(): Promise<string | null> {
    const { target } = this.engine.spec;
    return new Promise((resolve) => {
      const socket = createSocket(target.family === 6 ? 'udp6' : 'udp4');
      this.socket = socket;
      socket.on('error', (err: NodeJS.ErrnoException) => {
        if (!this.connected) {
          resolve(`cannot use UDP ${formatTarget(target)}: ${describeError(err)}`);
          return;
        }
        this.engine.error(err.code === 'ECONNREFUSED' ? 'connect' : 'other', this.id, `UDP socket ${this.id}: ${describeError(err)}`);
      });
      socket.on('message', (msg: Buffer) => this.received(msg));
      socket.connect(target.port, target.address, () => {
        this.connected = true;
        this.engine.open++;
        resolve(null);
      });
    });
  }

  begin(now: number): void {
    this.nextDue = now + this.phaseOffset;
    this.refill(now);
  }

  private received(msg: Buffer): void {
    const now = performance.now();
    const engine = this.engine;
    if (this.digests !== null) this.digests.received.update(msg, 0, msg.length);
    const seq = readSeq(msg, 0, SEQ_DIGITS);
    if (seq < 0) {
      engine.error(
        'mismatch',
        this.id,
        `UDP socket ${this.id}: ${bytesLong(msg.length)} datagram without a sequence number: "${escapeBytes(msg.subarray(0, 32))}"`,
      );
      return;
    }
    const slot = seq % this.depth;
    if (this.slotSeq[slot] !== seq) {
      if (this.lost.has(seq)) {
        this.late(msg, seq, slot, now);
        return;
      }
      engine.error(
        'unexpected',
        this.id,
        `UDP socket ${this.id}: datagram ${seq} is not outstanding (a duplicate, or late after being counted lost)`,
        { seq },
      );
      return;
    }
    this.deadline.sample(now - (this.leftAt[slot] as number));
    const start = slot * this.size;
    const expected = this.ring.subarray(start, start + this.size);
    if (msg.length !== this.size || !msg.equals(expected)) {
      const { kind, difference: diff } = datagramMismatch(expected, msg);
      engine.error(kind, this.id, `UDP socket ${this.id}, datagram ${seq}: ${diff?.summary ?? 'bytes differ'}`, {
        seq,
        ...(diff !== null ? { difference: diff } : {}),
      });
    } else {
      engine.completed(now, this.sentAt[slot] as number);
    }
    this.release(slot);
    if (engine.sending) this.refill(now);
    else engine.settled();
  }

  /**
   * The echo of a datagram already counted lost: its round trip refines the deadline, and its
   * bytes are checked against its slot, which differs from it only in the sequence digits.
   */
  private late(msg: Buffer, seq: number, slot: number, now: number): void {
    const leftAt = this.lost.get(seq) as number;
    this.lost.delete(seq);
    this.deadline.sample(now - leftAt);
    const start = slot * this.size;
    const expected = Buffer.from(this.ring.subarray(start, start + this.size));
    // The slot holds the last datagram sent from it, whose digits are rewritten to this one's.
    advanceSeq(expected, 0, SEQ_DIGITS, seq, (this.slotNext[slot] as number) - this.depth);
    if (msg.length !== this.size || !msg.equals(expected)) {
      const { kind, difference: diff } = datagramMismatch(expected, msg);
      this.engine.error(kind, this.id, `UDP socket ${this.id}, datagram ${seq} (late): ${diff?.summary ?? 'bytes differ'}`, {
        seq,
        ...(diff !== null ? { difference: diff } : {}),
      });
      return;
    }
    this.engine.error(
      'late',
      this.id,
      `UDP socket ${this.id}: the echo of datagram ${seq} came ${Math.round(now - leftAt)} ms after it was sent, once counted lost`,
      { seq },
    );
  }

  private release(slot: number): void {
    this.slotSeq[slot] = -1;
    this.free.push(slot);
    this.engine.inflight--;
  }

  refill(now: number): void {
    const socket = this.socket;
    if (socket === null || !this.connected) return;
    const engine = this.engine;
    const open = engine.spec.rate !== null;
    let budget = engine.budget();
    while (budget > 0 && this.free.length > 0) {
      if (open && this.nextDue > now) break;
      const slot = this.free.pop() as number;
      const seq = this.slotNext[slot] as number;
      this.slotNext[slot] = seq + this.depth;
      this.slotSeq[slot] = seq;
      const start = slot * this.size;
      advanceSeq(this.ring, start, SEQ_DIGITS, seq, seq - this.depth);
      if (open) {
        this.sentAt[slot] = this.nextDue;
        const lag = now - this.nextDue;
        if (lag > engine.maxSendLagMs && engine.phase === MEASURE) engine.maxSendLagMs = lag;
        this.nextDue += engine.periodMs;
      } else {
        this.sentAt[slot] = now;
      }
      this.leftAt[slot] = now;
      engine.inflight++;
      engine.sent++;
      budget--;
      if (this.digests !== null) this.digests.sent.update(this.ring, start, start + this.size);
      socket.send(this.ring, start, this.size);
    }
  }

  checkDeadline(now: number): void {
    const deadlineMs = this.deadline.ms;
    let lost = false;
    for (let slot = 0; slot < this.depth; slot++) {
      const seq = this.slotSeq[slot] as number;
      const leftAt = this.leftAt[slot] as number;
      if (seq >= 0 && now - leftAt > deadlineMs) {
        this.engine.error('lost', this.id, `UDP socket ${this.id}: no echo of datagram ${seq} within ${Math.round(deadlineMs)} ms`, {
          seq,
        });
        this.remember(seq, leftAt);
        this.engine.lostWaitMs += now - leftAt;
        this.release(slot);
        lost = true;
      }
    }
    if (!lost) return;
    if (this.engine.sending) this.refill(now);
    else this.engine.settled();
  }

  private remember(seq: number, leftAt: number): void {
    this.lost.set(seq, leftAt);
    if (this.lost.size > REMEMBERED_LOSSES) this.lost.delete(this.lost.keys().next().value as number);
  }

  close(): void {
    if (this.socket === null) return;
    if (this.connected) this.engine.open--;
    this.connected = false;
    this.socket.close();
    this.socket = null;
  }

  closeGracefully(done: () => void): void {
    this.close();
    done();
  }
}
