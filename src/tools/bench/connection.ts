/**
 * What an engine and its connections ask of each other, whatever the transport: the engine
 * drives {@link Connection}s (stream.ts, datagram.ts), and they report back through
 * {@link EngineHandle}. Kept apart from engine.ts so the connections do not import it.
 */
import type { Difference } from '../format.js';
import type { ConnectionDigests, DigestKind } from '../digest.js';
import type { ErrorKind } from './errors.js';
import type { PayloadMode } from './payload.js';
import type { Target, TransportSpec } from '../target.js';

/** What one engine runs: plain data, so it crosses into a worker thread as is. */
export interface EngineSpec {
  target: Target;
  transport: TransportSpec;
  mode: PayloadMode;
  /** Global id of this engine's first connection (ids are unique across threads). */
  firstConnId: number;
  connections: number;
  depth: number;
  size: number;
  warmupMs: number;
  /** Measure this long; null: until `count`. */
  durationMs: number | null;
  /** Stop after this many measured messages; null: after `durationMs`. */
  count: number | null;
  /** Open loop: this engine's messages per second, all connections together; null: closed loop. */
  rate: number | null;
  /** Connection-rate mode: this engine's new connections per second; null: connections kept open. */
  connectRate: number | null;
  /** Connection-rate mode: echoes each new connection completes before it closes. */
  roundTrips: number;
  /** Connection-rate mode: ids go firstConnId, firstConnId + idStride, … (unique across threads). */
  idStride: number;
  timeoutMs: number;
  digest: DigestKind;
}

/** The engine's phases, in order. */
export const IDLE = 0;
export const WARMUP = 1;
export const MEASURE = 2;
export const DRAIN = 3;
export const DONE = 4;

/** Reconnect backoff after a failure: doubles from the first to the last. */
export const RECONNECT_FIRST_MS = 50;
export const RECONNECT_MAX_MS = 1000;
/** After the run, how long a connection gets to close gracefully before it is destroyed. */
export const CLOSE_GRACE_MS = 1000;

/** The engine as its connections see it. */
export interface EngineHandle {
  readonly spec: EngineSpec;
  readonly phase: number;
  /** Warm-up or measure: messages may be sent. */
  readonly sending: boolean;
  /** Messages sent and not yet echoed, all connections. */
  inflight: number;
  sent: number;
  open: number;
  reconnects: number;
  maxSendLagMs: number;
  /** UDP: time the sockets' slots spent waiting for datagrams that were then counted lost, ms. */
  lostWaitMs: number;
  /** Open loop: ms between two sends of one connection. */
  readonly periodMs: number;
  /** Shared by every TCP connection: reads are handled synchronously, one at a time. */
  readonly readBuffer: Buffer;
  /** `readBuffer` as 32-bit words (verify.ts's wordsOf). */
  readonly readWords: Int32Array;
  budget(): number;
  completed(now: number, sentAt: number): void;
  error(kind: ErrorKind, connection: number, message: string, extra?: { seq?: number; difference?: Difference }): void;
  settled(): void;
  /** Connection-rate mode: a connection did its round trips and closed. */
  retired(): void;
}

/** What the engine asks of a connection, whatever its transport. */
export interface Connection {
  readonly id: number;
  readonly digests: ConnectionDigests | null;
  /** Connects; resolves to null, or to why it could not. */
  open(): Promise<string | null>;
  /** The run starts: send the first messages (closed loop) or set the schedule (open loop). */
  begin(now: number): void;
  /** Sends whatever may be sent now. */
  refill(now: number): void;
  checkDeadline(now: number): void;
  close(destroy: boolean): void;
  closeGracefully(done: () => void): void;
}
