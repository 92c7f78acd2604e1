/**
 * Fault injection, off by default so plain echo stays byte-exact and fast: delay (with jitter),
 * throttling, chunked writes, closing after N lines/bytes/ms with FIN or RST, hanging after
 * accept, refusing a share of connections, and for UDP dropping, duplicating and reordering.
 *
 * The option parsers are pure. `OutputShaper` sits between a connection's framer and its
 * socket when any output fault (or a prefix or digest) is configured; the default byte path
 * never sees it.
 */
import { MAX_TIMER_MS, parseBytes, parseDurationMs } from '../core/units.js';

export interface FaultOptions {
  /** Hold each echo this long before sending it, order kept; a [min, max] range is uniform jitter. */
  delayMs?: [number, number];
  /** Bytes per second per connection, each direction. */
  throttleBytesPerSecond?: number;
  /** Echo in writes of at most this many bytes. */
  chunkBytes?: number;
  /** Close once this many lines or bytes were echoed, or this long after opening. */
  closeAfter?: { lines: number } | { bytes: number } | { ms: number };
  /** How `closeAfter` closes: FIN (graceful) or RST. @default 'fin' */
  closeHow?: 'fin' | 'rst';
  /** Accept, then never read nor echo (the client's timeouts are what is tested). */
  acceptThenHang?: boolean;
  /** Close this share (0…1) of new connections at once. */
  refuseRate?: number;
  /** UDP: drop this share of datagrams. */
  dropRate?: number;
  /** UDP: answer this share of datagrams twice. */
  duplicateRate?: number;
  /** UDP: hold answers and release them shuffled within windows of this many. */
  reorderWindow?: number;
}

export class FaultOptionError extends Error {
  readonly code = 'ERR_ECHOD_FAULT_OPTION';
}

/** `50ms` → [50, 50]; `20ms..80ms` → [20, 80]. */
export function parseDelay(text: string): [number, number] {
  const [low = '', high, extra] = text.split('..');
  const min = parseDurationMs(low);
  const max = high === undefined ? min : parseDurationMs(high);
  if (extra !== undefined || min === undefined || max === undefined || max < min || max > MAX_TIMER_MS) {
    throw new FaultOptionError(`delay ${JSON.stringify(text)}: expected a duration (50ms) or a range (20ms..80ms)`);
  }
  return [min, max];
}

/** `64KiB/s` → 65536. */
export function parseThrottle(text: string): number {
  const match = /^(.+)\/s$/.exec(text.trim());
  const bytes = match === null ? undefined : parseBytes(match[1] ?? '');
  if (bytes === undefined || bytes === 0 || !Number.isSafeInteger(bytes)) throw new FaultOptionError(`throttle ${JSON.stringify(text)}: expected a rate such as 64KiB/s`);
  return bytes;
}

/** `lines=10`, `bytes=1MiB`, `time=30s`. */
export function parseCloseAfter(text: string): NonNullable<FaultOptions['closeAfter']> {
  const match = /^(lines|bytes|time)=(.+)$/.exec(text.trim());
  if (match !== null) {
    const [, kind, value = ''] = match;
    if (kind === 'lines' && /^[1-9]\d*$/.test(value)) return { lines: Number(value) };
    if (kind === 'bytes') {
      const bytes = parseBytes(value);
      if (bytes !== undefined && bytes > 0) return { bytes };
    }
    if (kind === 'time') {
      const ms = parseDurationMs(value);
      if (ms !== undefined && ms > 0 && ms <= MAX_TIMER_MS) return { ms };
    }
  }
  throw new FaultOptionError(`close-after ${JSON.stringify(text)}: expected lines=N, bytes=SIZE or time=DURATION`);
}

export function parseRate(name: string, text: string): number {
  const rate = Number(text);
  if (text.trim() === '' || !Number.isFinite(rate) || rate < 0 || rate > 1) throw new FaultOptionError(`${name} ${JSON.stringify(text)}: expected a share from 0 to 1`);
  return rate;
}

export function parsePositiveInteger(name: string, text: string): number {
  const value = Number(text);
  if (!/^[1-9]\d*$/.test(text.trim()) || !Number.isSafeInteger(value)) throw new FaultOptionError(`${name} ${JSON.stringify(text)}: expected a whole number ≥ 1`);
  return value;
}

/** Whether any per-connection output fault is set (the shaper is needed). */
export function shapesOutput(faults: FaultOptions | null): boolean {
  return faults !== null && (faults.delayMs !== undefined || faults.throttleBytesPerSecond !== undefined || faults.chunkBytes !== undefined || faults.closeAfter !== undefined);
}

/** What the shaper needs from its connection. */
export interface ShapedSink {
  /** Writes now; false under backpressure. */
  writeNow(data: Buffer): boolean;
  pauseInput(): void;
  resumeInput(): void;
  /** Ends the connection because a fault said so. */
  faultClose(how: 'fin' | 'rst'): void;
  /** False while the socket holds unsent output; the shaper then waits for `drained()`. */
  writable(): boolean;
}

/** While this much output waits in the shaper, the client's input is not read. */
export const SHAPER_HIGH_WATER_BYTES = 256 * 1024;

interface Pending {
  data: Buffer;
  at: number;
}

/**
 * Delays, throttles and chunks one connection's echo, keeping order, and closes it when a
 * close-after limit is reached. Bounded: at most SHAPER_HIGH_WATER_BYTES wait here before the
 * connection stops reading its client.
 */
export class OutputShaper {
  private readonly faults: FaultOptions;
  private readonly sink: ShapedSink;
  private readonly queue: Pending[] = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private lastRelease = 0;
  private sentBytes = 0;
  private sentLines = 0;
  /** Throttle: bytes allowed now in each direction; refilled with time. */
  private budget: number;
  private budgetAt = Date.now();
  private inBudget: number;
  private inBudgetAt = Date.now();
  /** Called once when a close is waiting for the queue to empty. */
  private onEmpty: (() => void) | null = null;
  private inputPaused = false;
  private closed = false;
  private closeTimer: NodeJS.Timeout | null = null;

  constructor(faults: FaultOptions, sink: ShapedSink) {
    this.faults = faults;
    this.sink = sink;
    this.budget = faults.throttleBytesPerSecond ?? Number.POSITIVE_INFINITY;
    this.inBudget = this.budget;
    const after = faults.closeAfter;
    if (after !== undefined && 'ms' in after) {
      this.closeTimer = setTimeout(() => this.closeNow(), after.ms);
      this.closeTimer.unref();
    }
  }

  /** Takes one chunk of echo (complete lines in line mode). */
  send(data: Buffer, lines: number): void {
    if (this.closed) return;
    const after = this.faults.closeAfter;
    if (after !== undefined && 'lines' in after) {
      // Echo up to the Nth line, then close.
      const allowed = after.lines - this.sentLines;
      if (lines >= allowed) {
        this.enqueue(upToLine(data, allowed));
        this.sentLines = after.lines;
        this.closeWhenSent();
        return;
      }
      this.sentLines += lines;
    }
    if (after !== undefined && 'bytes' in after) {
      const allowed = after.bytes - this.sentBytes;
      if (data.length >= allowed) {
        this.enqueue(data.subarray(0, allowed));
        this.sentBytes = after.bytes;
        this.closeWhenSent();
        return;
      }
    }
    this.sentBytes += data.length;
    this.enqueue(data);
  }

  /** Input-side throttle: call per received chunk; pauses reading while over the rate. */
  received(bytes: number): void {
    const rate = this.faults.throttleBytesPerSecond;
    if (rate === undefined) return;
    const now = Date.now();
    this.inBudget = Math.min(rate, this.inBudget + ((now - this.inBudgetAt) * rate) / 1000);
    this.inBudgetAt = now;
    this.inBudget -= bytes;
    if (this.inBudget < 0 && !this.inputPaused) {
      this.inputPaused = true;
      this.sink.pauseInput();
      setTimeout(() => {
        this.inputPaused = false;
        this.sink.resumeInput();
      }, Math.ceil((-this.inBudget / rate) * 1000)).unref();
    }
  }

  /** True while echo waits here. */
  get holding(): boolean {
    return this.queue.length > 0;
  }

  /** The connection is closing: `done` runs once everything queued has been written. */
  whenEmpty(done: () => void): void {
    if (this.queue.length === 0) {
      done();
      return;
    }
    this.onEmpty = done;
  }

  /** The socket took all its output: continue. */
  drained(): void {
    this.pump();
  }

  /** The connection is gone: drop what waits, stop the timers. */
  dispose(): void {
    this.closed = true;
    this.queue.length = 0;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.closeTimer !== null) clearTimeout(this.closeTimer);
  }

  private closeOnEmpty = false;

  private closeWhenSent(): void {
    this.closeOnEmpty = true;
    if (this.queue.length === 0) this.closeNow();
  }

  private closeNow(): void {
    if (this.closed) return;
    this.dispose();
    this.sink.faultClose(this.faults.closeHow ?? 'fin');
  }

  private enqueue(data: Buffer): void {
    if (data.length === 0) {
      if (this.closeOnEmpty && this.queue.length === 0) this.closeNow();
      return;
    }
    const [min, max] = this.faults.delayMs ?? [0, 0];
    const now = Date.now();
    const delay = min === max ? min : min + Math.random() * (max - min);
    // Never before the previous release: order is kept whatever the jitter.
    const at = Math.max(now + delay, this.lastRelease);
    this.lastRelease = at;
    this.queue.push({ data: Buffer.from(data), at });
    this.queuedBytes += data.length;
    if (this.queuedBytes > SHAPER_HIGH_WATER_BYTES && !this.inputPaused) {
      this.inputPaused = true;
      this.sink.pauseInput();
    }
    this.pump();
  }

  private refill(): void {
    const rate = this.faults.throttleBytesPerSecond;
    if (rate === undefined) return;
    const now = Date.now();
    // At most one second of burst.
    this.budget = Math.min(rate, this.budget + ((now - this.budgetAt) * rate) / 1000);
    this.budgetAt = now;
  }

  /** Sends whatever is due, as the throttle and chunk size allow; schedules the rest. */
  private pump(): void {
    if (this.timer !== null || this.closed) return;
    const chunk = this.faults.chunkBytes ?? Number.POSITIVE_INFINITY;
    const rate = this.faults.throttleBytesPerSecond;
    while (this.queue.length > 0) {
      if (!this.sink.writable()) return; // drained() resumes
      const head = this.queue[0] as Pending;
      const now = Date.now();
      if (head.at > now) return this.schedule(head.at - now);
      this.refill();
      if (this.budget <= 0 && rate !== undefined) return this.schedule(Math.ceil((1 - this.budget) / rate * 1000));
      const size = Math.min(head.data.length, chunk, rate === undefined ? Number.POSITIVE_INFINITY : Math.max(1, Math.floor(this.budget)));
      const piece = head.data.subarray(0, size);
      if (size === head.data.length) this.queue.shift();
      else head.data = head.data.subarray(size);
      this.queuedBytes -= size;
      if (rate !== undefined) this.budget -= size;
      this.sink.writeNow(piece);
      // One chunk per turn of the event loop, so each goes out as its own write.
      if (this.faults.chunkBytes !== undefined && this.queue.length > 0) return this.schedule(0);
    }
    if (this.inputPaused && this.queuedBytes <= SHAPER_HIGH_WATER_BYTES / 2 && this.faults.throttleBytesPerSecond === undefined) {
      this.inputPaused = false;
      this.sink.resumeInput();
    }
    if (this.closeOnEmpty) this.closeNow();
    const onEmpty = this.onEmpty;
    this.onEmpty = null;
    onEmpty?.();
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      this.pump();
    }, ms);
  }
}

/** The bytes of `data` up to and including its `count`th newline. */
function upToLine(data: Buffer, count: number): Buffer {
  let end = 0;
  for (let seen = 0; seen < count; seen++) {
    const nl = data.indexOf(0x0a, end);
    if (nl === -1) return data;
    end = nl + 1;
  }
  return data.subarray(0, end);
}
