/**
 * The load core of `echod bench`: a set of connections kept busy, every echoed byte checked,
 * every latency recorded. One engine runs on one thread (the main one, or each worker of
 * `--threads`); main.ts adds the engines' reports together.
 *
 * The engine schedules (warm-up, the measured window, the drain, the open-loop ticks and the
 * deadline scan) and keeps the statistics; the connections (stream.ts, datagram.ts) move and
 * check the bytes. Hot path, per received chunk: one timestamp, one byte comparison per
 * contiguous run of the ring (usually one per chunk; verify.ts), one histogram record per
 * completed message, then one write of all the messages that fit, straight to the socket's
 * handle (direct-write.ts; see payload.ts for why the ring needs no copying).
 */
import { type Connection, DONE, DRAIN, type EngineHandle, type EngineSpec, IDLE, MEASURE, WARMUP } from './connection.js';
import { DatagramConnection } from './datagram.js';
import { ConnectError, type ErrorCounts, type ErrorKind, type ErrorSample, zeroErrors } from './errors.js';
import type { Difference } from '../format.js';
import { type Histogram, LatencyRecorder } from './histogram.js';
import { LossDeadline } from './loss-deadline.js';
import { ConnectRatePool } from './connect-rate.js';
import { StreamConnection } from './stream.js';
import { wordsOf } from './verify.js';

export type { EngineSpec } from './connection.js';

export type Phase = 'warmup' | 'measure';

/**
 * One interval of a run: main.ts asks every engine for one each second ({@link Engine.roll}),
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
  /** Connection-rate mode: connections that did their round trips and closed in the interval. */
  connects: number;
}

export interface EngineReport {
  /** Epoch milliseconds of the run's start (the warm-up's, if any). */
  runStartMs: number;
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
  /** Connection-rate mode: connections that did their round trips and closed in the measured window. */
  connects: number;
  /** Hex digests, as echod's close lines give them. */
  digests?: { connection: number; sent: string; received: string }[];
  /** UDP: the loss deadline at the end of the run, ms. */
  lossDeadlineMs?: number;
  /** UDP: time the slots spent waiting for datagrams then counted lost, ms. */
  lostWaitMs?: number;
}

/** Errors described in full per run; the rest are only counted. */
const MAX_SAMPLES = 8;
/** TCP reads: one buffer for all of an engine's connections. */
const READ_BUFFER_BYTES = 64 * 1024;
/** How often deadlines are looked at (closed loop); open loop ticks every millisecond. */
const SCAN_MS = 50;
const OPEN_LOOP_TICK_MS = 1;

const epoch = (now: number): number => performance.timeOrigin + now;

export class Engine implements EngineHandle {
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
  lostWaitMs = 0;
  stalled = false;
  connects = 0;
  readonly errors = zeroErrors();
  readonly samples: ErrorSample[] = [];
  /** Shared by every TCP connection: reads are handled synchronously, one at a time. */
  readonly readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  readonly readWords = wordsOf(this.readBuffer);
  readonly countLimit: number;
  /** Open loop: ms between two sends of one connection. */
  readonly periodMs: number;
  private readonly connections: Connection[] = [];
  /** Receives the intervals the engine closes on its own (at a phase change). */
  private readonly onInterval: (report: IntervalReport) => void;
  private readonly latencies = new LatencyRecorder();
  /** UDP: when a datagram with no echo counts as lost (one for all the engine's sockets: one path). */
  private readonly lossDeadline: LossDeadline;
  private intervalMessages = 0;
  private intervalConnects = 0;
  private intervalStart = 0;
  private runStart = 0;
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
    this.lossDeadline = new LossDeadline(spec.timeoutMs, SCAN_MS);
    if (spec.connectRate !== null) {
      this.connections.push(new ConnectRatePool(this));
      return;
    }
    for (let i = 0; i < spec.connections; i++) {
      const id = spec.firstConnId + i;
      this.connections.push(
        spec.transport.kind === 'udp' ? new DatagramConnection(this, id, i, this.lossDeadline) : new StreamConnection(this, id, i),
      );
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
    this.runStart = now;
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
    this.tickTimer = setInterval(() => this.tick(), this.scheduled ? OPEN_LOOP_TICK_MS : SCAN_MS);
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

  /** Open loop or connection-rate mode: sends or connects follow a schedule, checked every tick. */
  private get scheduled(): boolean {
    return this.spec.rate !== null || this.spec.connectRate !== null;
  }

  retired(): void {
    this.intervalConnects++;
    if (this.phase === MEASURE) this.connects++;
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
      connects: this.intervalConnects,
    };
    this.intervalMessages = 0;
    this.intervalConnects = 0;
    this.intervalStart = now;
    return report;
  }

  private handIn(now: number): void {
    const report = this.roll(now);
    if (report !== null) this.onInterval(report);
  }

  private tick(): void {
    const now = performance.now();
    if (this.scheduled && this.sending) {
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
      runStartMs: epoch(this.runStart),
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
      connects: this.connects,
    };
    if (this.spec.transport.kind === 'udp') {
      report.lossDeadlineMs = Math.round(this.lossDeadline.ms);
      report.lostWaitMs = this.lostWaitMs;
    }
    if (this.spec.digest !== 'none') {
      report.digests = this.connections.map((connection) => ({
        connection: connection.id,
        sent: connection.digests?.sent.hex() ?? '',
        received: connection.digests?.received.hex() ?? '',
      }));
    }
    let closing = this.connections.length;
    const done = (): void => {
      if (--closing === 0) this.finished?.(report);
    };
    if (closing === 0) this.finished?.(report);
    for (const connection of this.connections) connection.closeGracefully(done);
  }
}
