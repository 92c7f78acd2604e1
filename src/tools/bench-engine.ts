/**
 * The load core of `echod bench`: a set of connections kept busy, every echoed byte checked,
 * every latency recorded. One engine runs on one thread (the main one, or each worker of
 * `--threads`); bench.ts adds the engines' reports together.
 *
 * Hot path, per received chunk: one timestamp, one native byte comparison per contiguous run of
 * the ring (usually one per chunk), one histogram record per completed message, then one write
 * of all the messages that fit (see payload.ts for why the ring needs no copying). TCP reads go
 * into one 64 KiB buffer shared by every connection of the engine (`onread`), so reading
 * allocates nothing.
 */
import { createSocket, type Socket as DatagramSocket } from 'node:dgram';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { type ConnectionDigests, createDigests, type DigestKind } from './digest.js';
import { type Difference, difference, escapeBytes } from './format.js';
import { type Histogram, LatencyRecorder } from './histogram.js';
import { advanceSeq, newRing, type PayloadMode, readSeq, SEQ_DIGITS, seqWidth } from './payload.js';
import { isResetError, isTlsError, type Target, tlsConnectOptions, type TransportSpec } from './target.js';

/** Every way an exchange can go wrong, in the order reports list them. */
export const ERROR_KINDS = ['mismatch', 'truncated', 'extra', 'reset', 'timeout', 'connect', 'tls', 'unexpected', 'lost', 'other'] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];
export type ErrorCounts = Record<ErrorKind, number>;

/** What each kind means, for `--help`, reports and docs. */
export const ERROR_MEANINGS: Readonly<Record<ErrorKind, string>> = {
  mismatch: 'an echoed byte differed from the byte sent',
  truncated: 'the server closed the connection before echoing everything sent',
  extra: 'the server sent bytes that were never sent to it',
  reset: 'the connection was reset (ECONNRESET, EPIPE)',
  timeout: `no echo for --timeout while messages were outstanding (or a connect took that long)`,
  connect: 'a (re)connect failed (refused, unreachable); UDP: ICMP port unreachable',
  tls: 'the TLS handshake failed (certificate, protocol)',
  unexpected: 'UDP: a datagram that matches no outstanding message (duplicate or late)',
  lost: 'UDP: no echo within --timeout (reported, but does not fail the run)',
  other: 'any other socket error',
};

/** Kinds that do not fail a run: UDP promises no delivery. */
export const NON_FATAL_KINDS: ReadonlySet<ErrorKind> = new Set<ErrorKind>(['lost']);

export function zeroErrors(): ErrorCounts {
  return Object.fromEntries(ERROR_KINDS.map((kind) => [kind, 0])) as ErrorCounts;
}

/** One error, described, for the report (the first few of a run are kept). */
export interface ErrorSample {
  kind: ErrorKind;
  connection: number;
  /** The message's sequence number on its connection, when one is concerned. */
  seq?: number;
  message: string;
  difference?: Difference;
}

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
  timeoutMs: number;
  digest: DigestKind;
}

export type Phase = 'warmup' | 'measure';

/**
 * One interval of a run: bench.ts asks every engine for one each second ({@link Engine.roll}),
 * and an engine also hands one in on its own when its phase changes, so that no interval
 * straddles the start or the end of the measured window.
 */
export interface IntervalReport {
  phase: Phase;
  /** Epoch milliseconds. */
  startMs: number;
  endMs: number;
  /** Echoes completed in the interval (warm-up ones included). */
  messages: number;
  /** Latencies of the interval's messages, µs. Measure intervals add up to the run's total. */
  histogram: Histogram;
  /** Since the start of the run. */
  errors: ErrorCounts;
  open: number;
}

export interface EngineReport {
  /** Epoch milliseconds of the measured window. */
  measureStartMs: number;
  measureEndMs: number;
  msgs: number;
  sent: number;
  /** Echoes that completed after the measured window (checked, not counted). */
  drained: number;
  errors: ErrorCounts;
  samples: ErrorSample[];
  reconnects: number;
  /** A count-limited run that stopped because nothing came back for twice --timeout. */
  stalled: boolean;
  /** Open loop: the most a send left after its intended time, ms (how far the client fell behind). */
  maxSendLagMs: number;
  /** Hex digests, as echod's close lines give them. */
  digests?: { connection: number; sent: string; received: string }[];
}

/** The initial connections could not all be made: the run does not start. */
export class ConnectError extends Error {
  readonly code = 'ERR_ECHOD_BENCH_CONNECT';
}

/** Errors described in full per run; the rest are only counted. */
const MAX_SAMPLES = 8;
/** TCP reads: one buffer for all of an engine's connections. */
const READ_BUFFER_BYTES = 64 * 1024;
/** Reconnect backoff after a failure: doubles from the first to the last. */
const RECONNECT_FIRST_MS = 50;
const RECONNECT_MAX_MS = 1000;
/** How often deadlines are looked at (closed loop); open loop ticks every millisecond. */
const SCAN_MS = 50;
const OPEN_LOOP_TICK_MS = 1;
/** After the run, how long a connection gets to close gracefully before it is destroyed. */
const CLOSE_GRACE_MS = 1000;

const IDLE = 0;
const WARMUP = 1;
const MEASURE = 2;
const DRAIN = 3;
const DONE = 4;

const epoch = (now: number): number => performance.timeOrigin + now;

export class Engine {
  readonly spec: EngineSpec;
  phase = IDLE;
  /** Messages sent and not yet echoed, all connections. */
  inflight = 0;
  measured = 0;
  drained = 0;
  sent = 0;
  reconnects = 0;
  open = 0;
  maxSendLagMs = 0;
  stalled = false;
  readonly errors = zeroErrors();
  readonly samples: ErrorSample[] = [];
  /** Shared by every TCP connection: reads are handled synchronously, one at a time. */
  readonly readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  readonly countLimit: number;
  /** Open loop: ms between two sends of one connection. */
  readonly periodMs: number;
  private readonly connections: Connection[] = [];
  /** Receives the intervals the engine closes on its own (at a phase change). */
  private readonly onInterval: (report: IntervalReport) => void;
  private readonly latencies = new LatencyRecorder();
  private intervalMessages = 0;
  private intervalStart = 0;
  private measureStart = 0;
  private measureEnd = 0;
  private lastCompletion = 0;
  private lastScan = 0;
  private drainDeadline = 0;
  private tickTimer: NodeJS.Timeout | null = null;
  private phaseTimer: NodeJS.Timeout | null = null;
  private finished: ((report: EngineReport) => void) | null = null;

  constructor(spec: EngineSpec, onInterval: (report: IntervalReport) => void) {
    this.spec = spec;
    this.onInterval = onInterval;
    this.countLimit = spec.count ?? Number.POSITIVE_INFINITY;
    this.periodMs = spec.rate !== null ? (1000 * spec.connections) / spec.rate : 0;
    for (let i = 0; i < spec.connections; i++) {
      const id = spec.firstConnId + i;
      this.connections.push(spec.transport.kind === 'udp' ? new DatagramConnection(this, id, i) : new StreamConnection(this, id, i));
    }
  }

  /** Opens every connection; rejects with {@link ConnectError} if any cannot be made. */
  async connect(): Promise<void> {
    const results = await Promise.all(this.connections.map((connection) => connection.open()));
    const failure = results.find((result) => result !== null);
    if (failure !== undefined && failure !== null) {
      for (const connection of this.connections) connection.close(true);
      throw new ConnectError(failure);
    }
  }

  /** Warm-up, the measured window, then the drain; resolves when every connection is closed. */
  run(): Promise<EngineReport> {
    const now = performance.now();
    this.intervalStart = now;
    this.lastCompletion = now;
    this.lastScan = now;
    const { warmupMs } = this.spec;
    if (warmupMs > 0) {
      this.phase = WARMUP;
      this.phaseTimer = setTimeout(() => this.startMeasure(), warmupMs);
    } else {
      this.startMeasure();
    }
    this.tickTimer = setInterval(() => this.tick(), this.spec.rate !== null ? OPEN_LOOP_TICK_MS : SCAN_MS);
    for (const connection of this.connections) connection.begin(now);
    return new Promise((resolve) => {
      this.finished = resolve;
    });
  }

  /** Ends the run early (the measured window closes now). */
  stop(): void {
    if (this.phase === WARMUP) this.startMeasure();
    if (this.phase === MEASURE) this.endMeasure(performance.now());
  }

  get sending(): boolean {
    return this.phase === WARMUP || this.phase === MEASURE;
  }

  /** How many more messages may be sent now, all connections together. */
  budget(): number {
    if (this.phase === WARMUP) return Number.POSITIVE_INFINITY;
    if (this.phase !== MEASURE) return 0;
    return this.countLimit - this.measured - this.inflight;
  }

  /** One echo completed and checked: `sentAt` is its send (or, open loop, its intended send) time. */
  completed(now: number, sentAt: number): void {
    this.intervalMessages++;
    this.lastCompletion = now;
    const phase = this.phase;
    if (phase === MEASURE) {
      if (this.measured < this.countLimit) {
        this.measured++;
        this.record(now - sentAt);
        if (this.measured === this.countLimit) this.endMeasure(now);
      } else {
        this.drained++;
      }
    } else if (phase === WARMUP) {
      this.record(now - sentAt);
    } else {
      this.drained++;
    }
  }

  private record(ms: number): void {
    const us = Math.round(ms * 1000);
    this.latencies.record(us < 0 ? 0 : us);
  }

  /** Counts an error; describes it if it is one of the first few. */
  error(kind: ErrorKind, connection: number, message: string, extra: { seq?: number; difference?: Difference } = {}): void {
    this.errors[kind]++;
    if (this.samples.length < MAX_SAMPLES) this.samples.push({ kind, connection, message, ...extra });
  }

  /** A connection finished its outstanding work (drain) or closed: see whether the run is over. */
  settled(): void {
    if (this.phase === DRAIN && this.inflight <= 0) this.finish();
  }

  private startMeasure(): void {
    if (this.phase !== WARMUP && this.phase !== IDLE) return;
    if (this.phaseTimer !== null) clearTimeout(this.phaseTimer);
    const now = performance.now();
    if (this.phase === WARMUP) this.handIn(now);
    this.phase = MEASURE;
    this.measureStart = now;
    this.lastCompletion = now;
    if (this.spec.durationMs !== null) this.phaseTimer = setTimeout(() => this.endMeasure(performance.now()), this.spec.durationMs);
    if (this.countLimit === 0) this.endMeasure(now);
  }

  private endMeasure(now: number): void {
    if (this.phase !== MEASURE) return;
    this.measureEnd = now;
    this.handIn(now);
    this.phase = DRAIN;
    if (this.phaseTimer !== null) clearTimeout(this.phaseTimer);
    this.drainDeadline = now + this.spec.timeoutMs;
    this.settled();
  }

  /** Closes the current interval and returns it; null outside warm-up and measurement. */
  roll(now = performance.now()): IntervalReport | null {
    if (this.phase !== WARMUP && this.phase !== MEASURE) return null;
    const report: IntervalReport = {
      phase: this.phase === WARMUP ? 'warmup' : 'measure',
      startMs: epoch(this.intervalStart),
      endMs: epoch(now),
      messages: this.intervalMessages,
      histogram: this.latencies.take(),
      errors: { ...this.errors },
      open: this.open,
    };
    this.intervalMessages = 0;
    this.intervalStart = now;
    return report;
  }

  private handIn(now: number): void {
    const report = this.roll(now);
    if (report !== null) this.onInterval(report);
  }

  private tick(): void {
    const now = performance.now();
    if (this.spec.rate !== null && this.sending) {
      for (const connection of this.connections) connection.refill(now);
    }
    if (now - this.lastScan < SCAN_MS) return;
    this.lastScan = now;
    for (const connection of this.connections) connection.checkDeadline(now);
    if (this.phase === DRAIN) {
      if (now >= this.drainDeadline) this.finish();
      return;
    }
    // A count-limited run against a server that answers nothing would never end.
    if (this.spec.durationMs === null && this.phase === MEASURE && now - this.lastCompletion > 2 * this.spec.timeoutMs) {
      this.stalled = true;
      this.endMeasure(now);
    }
  }

  private finish(): void {
    if (this.phase === DONE) return;
    this.phase = DONE;
    for (const timer of [this.tickTimer, this.phaseTimer]) if (timer !== null) clearInterval(timer);
    const report: EngineReport = {
      measureStartMs: epoch(this.measureStart),
      measureEndMs: epoch(this.measureEnd),
      msgs: this.measured,
      sent: this.sent,
      drained: this.drained,
      errors: { ...this.errors },
      samples: this.samples,
      reconnects: this.reconnects,
      stalled: this.stalled,
      maxSendLagMs: this.maxSendLagMs,
    };
    if (this.spec.digest !== 'none') {
      report.digests = this.connections.map((connection) => ({ connection: connection.id, sent: connection.digests?.sent.hex() ?? '', received: connection.digests?.received.hex() ?? '' }));
    }
    let closing = this.connections.length;
    const done = (): void => {
      if (--closing === 0) this.finished?.(report);
    };
    if (closing === 0) this.finished?.(report);
    for (const connection of this.connections) connection.closeGracefully(done);
  }
}

/** What the engine asks of a connection, whatever its transport. */
interface Connection {
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

function describeError(err: NodeJS.ErrnoException): string {
  return err.code !== undefined ? `${err.code}: ${err.message}` : err.message;
}

/** Which kind a socket error counts as. */
function classify(err: NodeJS.ErrnoException, connecting: boolean): ErrorKind {
  if (isTlsError(err)) return 'tls';
  if (isResetError(err)) return 'reset';
  if (err.code === 'ETIMEDOUT') return 'timeout';
  if (connecting || err.code === 'ECONNREFUSED' || err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH') return 'connect';
  return 'other';
}

/** TCP or TLS: a byte stream, echoed in order. */
class StreamConnection implements Connection {
  readonly id: number;
  readonly digests: ConnectionDigests | null;
  private readonly engine: Engine;
  private readonly ring: Buffer;
  /** Each slot's message as its own view, so the common one-message write allocates nothing. */
  private readonly slotViews: Buffer[];
  /** Send (open loop: intended send) time of the message in each slot, performance.now() ms. */
  private readonly sentAt: Float64Array;
  private readonly size: number;
  private readonly depth: number;
  private readonly width: number;
  private socket: Socket | null = null;
  private connecting = false;
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

  constructor(engine: Engine, id: number, index: number) {
    const { spec } = engine;
    this.engine = engine;
    this.id = id;
    this.size = spec.size;
    this.depth = spec.depth;
    this.width = seqWidth(spec.size, spec.mode);
    this.ring = newRing(spec.depth, spec.size, spec.mode, id);
    this.slotViews = Array.from({ length: spec.depth }, (_, slot) => this.ring.subarray(slot * spec.size, (slot + 1) * spec.size));
    this.sentAt = new Float64Array(spec.depth);
    this.digests = createDigests(spec.digest);
    this.phaseOffset = spec.rate !== null ? (engine.periodMs * index) / spec.connections : 0;
  }

  open(): Promise<string | null> {
    return new Promise((resolve) => {
      this.connect((failure) => resolve(failure));
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
      this.connecting = false;
      this.failures = 0;
      this.engine.open++;
      opened(null);
    };
    if (spec.transport.kind === 'tls') {
      socket = tlsConnect({ ...tlsConnectOptions(target, spec.transport.tls) }, onOpen);
      socket.setNoDelay(true);
      socket.on('data', (chunk: Buffer) => {
        if (this.socket === socket) this.received(chunk, chunk.length);
      });
    } else {
      const buffer = this.engine.readBuffer;
      socket = netConnect(
        {
          host: target.address,
          port: target.port,
          noDelay: true,
          onread: {
            buffer,
            callback: (nread: number): boolean => {
              if (this.socket === socket) this.received(buffer, nread);
              return true;
            },
          },
        },
        onOpen,
      );
    }
    this.socket = socket;
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (this.socket !== socket) return;
      const wasConnecting = this.connecting;
      const kind = classify(err, wasConnecting);
      this.engine.error(kind, this.id, `${wasConnecting ? 'connect' : 'connection'} ${this.id}: ${describeError(err)}`);
      if (wasConnecting && this.engine.phase === IDLE) {
        this.drop();
        opened(`cannot connect to ${target.host}:${target.port}: ${describeError(err)}`);
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
            ? `connection ${this.id}: the server closed with ${outstanding} message(s) not echoed (${this.rpos} of ${this.size} bytes of the first)`
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
  private received(buf: Buffer, n: number): void {
    const now = performance.now();
    this.waitingSince = now;
    if (this.digests !== null) this.digests.received.update(buf, 0, n);
    const { ring, size, depth, engine, sentAt } = this;
    let off = 0;
    while (off < n) {
      const outstanding = this.sentSeq - this.recvSeq;
      if (outstanding === 0) {
        engine.error('extra', this.id, `connection ${this.id}: ${n - off} byte(s) arrived that were never sent: "${escapeBytes(buf.subarray(off, Math.min(n, off + 32)))}"`, { seq: this.recvSeq });
        this.restart();
        return;
      }
      const slot = this.recvSeq % depth;
      const ringPos = slot * size + this.rpos;
      // The outstanding bytes that lie contiguously in the ring from here: checked in one call.
      const contiguous = Math.min(depth - slot, outstanding) * size - this.rpos;
      const take = contiguous < n - off ? contiguous : n - off;
      if (buf.compare(ring, ringPos, ringPos + take, off, off + take) !== 0) {
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
    if (k === 1) {
      socket.write(this.slotViews[first] as Buffer);
    } else if (first + k <= depth) {
      socket.write(first === 0 && k === depth ? ring : ring.subarray(first * size, (first + k) * size));
    } else {
      socket.write(ring.subarray(first * size));
      socket.write(ring.subarray(0, (first + k - depth) * size));
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
    const { ring, size } = this;
    let i = 0;
    const ringPos = slot * size + this.rpos;
    while (i < take && buf[off + i] === ring[ringPos + i]) i++;
    // The message holding the first bad byte, and as much of it as this chunk has.
    const intoRun = this.rpos + i;
    const message = (intoRun - (intoRun % size)) / size;
    const seq = this.recvSeq + message;
    const messageStart = (slot + message) * size;
    const firstByte = message === 0 ? this.rpos : 0;
    const gotStart = off + message * size - this.rpos + firstByte;
    const expected = ring.subarray(messageStart, messageStart + size);
    const got = buf.subarray(gotStart, Math.min(off + take, gotStart + size - firstByte));
    const diff = difference(expected.subarray(firstByte, firstByte + got.length), got);
    if (diff !== null) {
      diff.offset += firstByte;
      diff.summary = `byte ${diff.offset} of ${size} differs: expected "${escapeBytes(expected.subarray(diff.offset, diff.offset + 1))}", got "${escapeBytes(got.subarray(diff.offset - firstByte, diff.offset - firstByte + 1))}"`;
    }
    this.engine.error('mismatch', this.id, `connection ${this.id}, message ${seq}: ${diff?.summary ?? 'bytes differ'}`, { seq, ...(diff !== null ? { difference: diff } : {}) });
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
      const hint = this.engine.spec.mode === 'raw' ? ' (--mode raw needs a raw echo; a line echo holds back bytes after the last newline)' : '';
      this.engine.error('timeout', this.id, `connection ${this.id}: no echo for ${timeoutMs} ms with ${this.sentSeq - this.recvSeq} message(s) outstanding${hint}`, { seq: this.recvSeq });
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

/** UDP: each message one datagram; each slot runs its own closed loop, since datagrams may be lost or reordered. */
class DatagramConnection implements Connection {
  readonly id: number;
  readonly digests: ConnectionDigests | null;
  private readonly engine: Engine;
  private readonly ring: Buffer;
  private readonly sentAt: Float64Array;
  /** When each slot's datagram actually left (for the loss deadline). */
  private readonly leftAt: Float64Array;
  /** The sequence number outstanding in each slot, or -1. */
  private readonly slotSeq: Float64Array;
  /** The next sequence number of each slot: slot, slot + depth, slot + 2 × depth, … */
  private readonly slotNext: Float64Array;
  private readonly free: number[] = [];
  private readonly size: number;
  private readonly depth: number;
  private socket: DatagramSocket | null = null;
  private connected = false;
  private nextDue = 0;
  private readonly phaseOffset: number;

  constructor(engine: Engine, id: number, index: number) {
    const { spec } = engine;
    this.engine = engine;
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
          resolve(`cannot use UDP ${target.host}:${target.port}: ${describeError(err)}`);
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
      engine.error('mismatch', this.id, `UDP socket ${this.id}: a ${msg.length}-byte datagram without a sequence number: "${escapeBytes(msg.subarray(0, 32))}"`);
      return;
    }
    const slot = seq % this.depth;
    if (this.slotSeq[slot] !== seq) {
      engine.error('unexpected', this.id, `UDP socket ${this.id}: datagram ${seq} is not outstanding (a duplicate, or late after being counted lost)`, { seq });
      return;
    }
    const start = slot * this.size;
    const expected = this.ring.subarray(start, start + this.size);
    if (msg.length !== this.size || !msg.equals(expected)) {
      const diff = difference(expected, msg);
      const kind: ErrorKind = msg.length < this.size && diff !== null && diff.offset === msg.length ? 'truncated' : 'mismatch';
      engine.error(kind, this.id, `UDP socket ${this.id}, datagram ${seq}: ${diff?.summary ?? 'bytes differ'}`, { seq, ...(diff !== null ? { difference: diff } : {}) });
    } else {
      engine.completed(now, this.sentAt[slot] as number);
    }
    this.release(slot);
    if (engine.sending) this.refill(now);
    else engine.settled();
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
    const { timeoutMs } = this.engine.spec;
    let lost = false;
    for (let slot = 0; slot < this.depth; slot++) {
      const seq = this.slotSeq[slot] as number;
      if (seq >= 0 && now - (this.leftAt[slot] as number) > timeoutMs) {
        this.engine.error('lost', this.id, `UDP socket ${this.id}: no echo of datagram ${seq} within ${timeoutMs} ms`, { seq });
        this.release(slot);
        lost = true;
      }
    }
    if (!lost) return;
    if (this.engine.sending) this.refill(now);
    else this.engine.settled();
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

/** Width check for UDP, whose datagrams are matched by their sequence number. */
export function minimumSize(transport: TransportSpec['kind'], mode: PayloadMode): number {
  if (transport !== 'udp') return 1;
  return mode === 'line' ? SEQ_DIGITS + 1 : SEQ_DIGITS;
}
