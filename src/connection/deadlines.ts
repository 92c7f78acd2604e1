/**
 * Idle, write-stall and close deadlines for every connection, checked by one coarse periodic
 * sweep instead of a timer per socket.
 *
 * Why: a socket timeout (`socket.setTimeout`) re-arms a timer on every read and every write,
 * which is work on the byte path for each message. Here the byte path only stores a number it
 * reads from a shared clock; one timer per server walks the connections a few times a second.
 * Deadlines are never early and at most two sweep periods late.
 */

/** What the sweep needs of a connection. */
export interface Expirable {
  /** Called once per sweep; `now` is the clock's time, `slack` how late a stamp may be. */
  expire(now: number, slack: number): void;
}

/** Sweep at least this often, so a 5-minute idle timeout fires within about 2 s of its time. */
const MAX_SWEEP_MS = 1000;
/** And no more often than this, whatever the timeouts. */
const MIN_SWEEP_MS = 10;
/** A deadline is checked about this many times over its length. */
const SWEEPS_PER_TIMEOUT = 10;

/** Above this `| 0` would wrap: the time is returned as the plain (boxed, exact) number. */
const INT32_MAX = 2 ** 31 - 1;

/**
 * Milliseconds on the process's monotonic clock (performance.now(), from about 0 at start):
 * for start times, durations and deadlines. Monotonic, so a wall-clock step (NTP, a restored
 * VM) neither closes busy connections as idle nor stops deadlines. Kept as the small integer
 * it is (`| 0`): V8 stores that in an object's field as it is, where a field that once held a
 * double keeps every value in a 16-byte box (two per held connection on Node). After 24 days
 * of uptime the values are only boxed, never wrong.
 */
export function clockMs(): number {
  const ms = Math.floor(performance.now());
  return ms <= INT32_MAX ? ms | 0 : ms;
}

/** A clock (`clockMs()` units) the byte path reads without a system call; the sweeper moves it forward. */
export interface CoarseClock {
  now: number;
}

export class DeadlineSweeper {
  readonly clock: CoarseClock = { now: clockMs() };
  readonly periodMs: number;
  private timer: NodeJS.Timeout | null = null;
  private readonly items: Iterable<Expirable>;

  /** `timeoutsMs`: every deadline length in use (zeros ignored); the period follows the shortest. */
  constructor(items: Iterable<Expirable>, timeoutsMs: readonly number[]) {
    this.items = items;
    const shortest = Math.min(...timeoutsMs.filter((ms) => ms > 0), MAX_SWEEP_MS * SWEEPS_PER_TIMEOUT);
    this.periodMs = Math.max(MIN_SWEEP_MS, Math.min(MAX_SWEEP_MS, Math.floor(shortest / SWEEPS_PER_TIMEOUT)));
  }

  start(): void {
    if (this.timer !== null) return;
    // Connections accepted before the first sweep are stamped with this; it must be now.
    this.clock.now = clockMs();
    this.timer = setInterval(() => this.sweep(), this.periodMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Moves the clock to the present and gives every item its chance to expire. */
  sweep(): void {
    const now = clockMs();
    this.clock.now = now;
    for (const item of this.items) item.expire(now, this.periodMs);
  }
}
