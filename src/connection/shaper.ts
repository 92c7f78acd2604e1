/**
 * The output shaper: sits between a connection's framer and its socket when an output fault
 * (delay, throttle, chunk, close-after) is configured; the default byte path never sees it.
 *
 * Time and turns come from an injected `ShaperScheduler` (the event loop in production, a fake
 * in unit tests), so every rule here is tested without waiting on a real clock.
 */
import type { FaultOptions } from '../config/faults.js';

/** What the shaper needs from its connection. */
export interface ShapedSink {
  /** Writes now; false under backpressure. `lines`: the complete echoed lines this write finishes. */
  writeNow(data: Buffer, lines?: number): boolean;
  pauseInput(): void;
  resumeInput(): void;
  /** Ends the connection because a fault said so. */
  faultClose(how: 'fin' | 'rst'): void;
  /** False while the socket holds unsent output; the shaper then waits for `drained()`. */
  writable(): boolean;
}

/** Cancels what a scheduler call arranged; harmless once it has run. */
export type Cancel = () => void;

/** Where the shaper gets time and turns of the event loop. */
export interface ShaperScheduler {
  /** Milliseconds (Date.now() units). */
  now(): number;
  /** Runs `fn` after `ms` (delay, throttle, close-after). Never keeps the process alive by itself. */
  after(ms: number, fn: () => void): Cancel;
  /**
   * Runs `fn` on the next turn of the event loop, after the I/O already due (setImmediate):
   * how `--chunk` paces its writes. A timer would cost at least 1 ms per chunk.
   */
  nextTurn(fn: () => void): Cancel;
}

/** The event loop. */
const EVENT_LOOP_SCHEDULER: ShaperScheduler = {
  now: () => Date.now(),
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
  nextTurn(fn) {
    const immediate = setImmediate(fn);
    return () => clearImmediate(immediate);
  },
};

/** While this much output waits in the shaper, the client's input is not read. */
const SHAPER_HIGH_WATER_BYTES = 256 * 1024;

interface Pending {
  data: Buffer;
  at: number;
  /** Complete lines in `data`: counted as echoed once its last byte is written. */
  lines: number;
}

/**
 * Delays, throttles and chunks one connection's echo, keeping order, and closes it when a
 * close-after limit is reached. Bounded: at most SHAPER_HIGH_WATER_BYTES wait here before the
 * connection stops reading its client. With `chunkBytes`, each chunk is its own write, one per
 * turn of the event loop.
 */
export class OutputShaper {
  private readonly faults: FaultOptions;
  private readonly sink: ShapedSink;
  private readonly scheduler: ShaperScheduler;
  private readonly queue: Pending[] = [];
  private queuedBytes = 0;
  /** The next pump, when one is arranged (a timer or the next turn). */
  private wake: Cancel | null = null;
  private lastRelease = 0;
  private sentBytes = 0;
  private sentLines = 0;
  /** Throttle: bytes allowed now in each direction; refilled with time. */
  private budget: number;
  private budgetAt: number;
  private inBudget: number;
  private inBudgetAt: number;
  /** Called once when a close is waiting for the queue to empty. */
  private onEmpty: (() => void) | null = null;
  private inputPaused = false;
  private closed = false;
  private closeOnEmpty = false;
  private cancelClose: Cancel | null = null;
  /** Input throttle: the timer that resumes reading once the budget has refilled. */
  private cancelResume: Cancel | null = null;

  constructor(faults: FaultOptions, sink: ShapedSink, scheduler: ShaperScheduler = EVENT_LOOP_SCHEDULER) {
    this.faults = faults;
    this.sink = sink;
    this.scheduler = scheduler;
    this.budget = faults.throttleBytesPerSecond ?? Number.POSITIVE_INFINITY;
    this.inBudget = this.budget;
    this.budgetAt = this.inBudgetAt = scheduler.now();
    const after = faults.closeAfter;
    if (after !== undefined && 'ms' in after) this.cancelClose = scheduler.after(after.ms, () => this.closeNow());
  }

  /** Takes one chunk of echo holding `lines` complete lines (0 in raw mode). */
  send(data: Buffer, lines: number): void {
    if (this.closed) return;
    const after = this.faults.closeAfter;
    if (after !== undefined && 'lines' in after) {
      // Echo up to the Nth line, then close.
      const allowed = after.lines - this.sentLines;
      if (lines >= allowed) {
        this.enqueue(upToLine(data, allowed), allowed);
        this.sentLines = after.lines;
        this.closeWhenSent();
        return;
      }
      this.sentLines += lines;
    }
    if (after !== undefined && 'bytes' in after) {
      const allowed = after.bytes - this.sentBytes;
      if (data.length >= allowed) {
        const cut = data.subarray(0, allowed);
        this.enqueue(cut, Math.min(lines, newlines(cut)));
        this.sentBytes = after.bytes;
        this.closeWhenSent();
        return;
      }
    }
    this.sentBytes += data.length;
    this.enqueue(data, lines);
  }

  /** Input-side throttle: call per received chunk; pauses reading while over the rate. */
  received(bytes: number): void {
    const rate = this.faults.throttleBytesPerSecond;
    if (rate === undefined) return;
    const now = this.scheduler.now();
    this.inBudget = Math.min(rate, this.inBudget + ((now - this.inBudgetAt) * rate) / 1000);
    this.inBudgetAt = now;
    this.inBudget -= bytes;
    if (this.inBudget < 0 && !this.inputPaused) {
      this.inputPaused = true;
      this.sink.pauseInput();
      this.cancelResume = this.scheduler.after(Math.ceil((-this.inBudget / rate) * 1000), () => {
        this.cancelResume = null;
        this.inputPaused = false;
        this.sink.resumeInput();
      });
    }
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
    this.wake?.();
    this.wake = null;
    this.cancelClose?.();
    this.cancelClose = null;
    this.cancelResume?.();
    this.cancelResume = null;
  }

  private closeWhenSent(): void {
    this.closeOnEmpty = true;
    if (this.queue.length === 0) this.closeNow();
  }

  private closeNow(): void {
    if (this.closed) return;
    this.dispose();
    this.sink.faultClose(this.faults.closeHow ?? 'fin');
  }

  private enqueue(data: Buffer, lines: number): void {
    if (data.length === 0) {
      if (this.closeOnEmpty && this.queue.length === 0) this.closeNow();
      return;
    }
    const [min, max] = this.faults.delayMs ?? [0, 0];
    const now = this.scheduler.now();
    const delay = min === max ? min : min + Math.random() * (max - min);
    // Never before the previous release: order is kept whatever the jitter.
    const at = Math.max(now + delay, this.lastRelease);
    this.lastRelease = at;
    this.queue.push({ data: Buffer.from(data), at, lines });
    this.queuedBytes += data.length;
    if (this.queuedBytes > SHAPER_HIGH_WATER_BYTES && !this.inputPaused) {
      this.inputPaused = true;
      this.sink.pauseInput();
    }
    this.pump();
  }

  private refill(now: number): void {
    const rate = this.faults.throttleBytesPerSecond;
    if (rate === undefined) return;
    // At most one second of burst.
    this.budget = Math.min(rate, this.budget + ((now - this.budgetAt) * rate) / 1000);
    this.budgetAt = now;
  }

  /** Sends whatever is due, as the throttle and chunk size allow; arranges the rest. */
  private pump(): void {
    if (this.wake !== null || this.closed) return;
    const chunk = this.faults.chunkBytes ?? Number.POSITIVE_INFINITY;
    const rate = this.faults.throttleBytesPerSecond;
    while (this.queue.length > 0) {
      if (!this.sink.writable()) return; // drained() resumes
      const head = this.queue[0] as Pending;
      const now = this.scheduler.now();
      if (head.at > now) return this.wakeAfter(head.at - now);
      this.refill(now);
      if (this.budget <= 0 && rate !== undefined) return this.wakeAfter(Math.ceil(((1 - this.budget) / rate) * 1000));
      const size = Math.min(head.data.length, chunk, rate === undefined ? Number.POSITIVE_INFINITY : Math.max(1, Math.floor(this.budget)));
      const piece = head.data.subarray(0, size);
      const whole = size === head.data.length;
      if (whole) this.queue.shift();
      else head.data = head.data.subarray(size);
      this.queuedBytes -= size;
      if (rate !== undefined) this.budget -= size;
      this.sink.writeNow(piece, whole ? head.lines : 0);
      // One chunk per turn of the event loop, so each goes out as its own write.
      if (this.faults.chunkBytes !== undefined && this.queue.length > 0) return this.wakeNextTurn();
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

  private wakeAfter(ms: number): void {
    this.wake = this.scheduler.after(ms, () => this.woken());
  }

  private wakeNextTurn(): void {
    this.wake = this.scheduler.nextTurn(() => this.woken());
  }

  private woken(): void {
    this.wake = null;
    this.pump();
  }
}

function newlines(data: Buffer): number {
  let count = 0;
  for (let nl = data.indexOf(0x0a); nl !== -1; nl = data.indexOf(0x0a, nl + 1)) count++;
  return count;
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
