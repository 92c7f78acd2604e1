/**
 * The status page's charts: per-second rates of the server's cumulative counters over the
 * last minutes, in a ring of fixed size. `record()` is called once per sample tick with the
 * counters as they stand; each sample after the first stores the rate since the previous one.
 * Memory is `capacity` numbers per series, whatever the uptime.
 */

/** The counters charted, as cumulative totals. */
const HISTORY_SERIES = ['connections', 'lines', 'bytesIn', 'bytesOut'] as const;
export type HistorySeries = (typeof HISTORY_SERIES)[number];
export type HistoryCounters = Readonly<Record<HistorySeries, number>>;

/** One sample a second for five minutes. */
const DEFAULT_HISTORY_CAPACITY = 300;

/** The rates, oldest first: `t` in Unix seconds (as uPlot takes it), each series per second. */
export interface HistorySnapshot {
  t: number[];
  connections: number[];
  lines: number[];
  bytesIn: number[];
  bytesOut: number[];
}

export class RateHistory {
  readonly capacity: number;
  private readonly clock: () => number;
  private readonly times: Float64Array;
  private readonly rates: Record<HistorySeries, Float64Array>;
  /** Next slot to write; `size` slots before it (wrapping) hold samples. */
  private next = 0;
  private size = 0;
  private previous: { at: number; counters: HistoryCounters } | null = null;

  /** `clock`: milliseconds since the epoch (injected by tests). */
  constructor(capacity = DEFAULT_HISTORY_CAPACITY, clock: () => number = Date.now) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`history capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.clock = clock;
    this.times = new Float64Array(capacity);
    this.rates = {
      connections: new Float64Array(capacity),
      lines: new Float64Array(capacity),
      bytesIn: new Float64Array(capacity),
      bytesOut: new Float64Array(capacity),
    };
  }

  /** Samples the counters now. A counter that went down (a worker restarted) counts as 0 that interval. */
  record(counters: HistoryCounters): void {
    const at = this.clock();
    const previous = this.previous;
    this.previous = { at, counters: { ...counters } };
    if (previous === null || at <= previous.at) return;
    const seconds = (at - previous.at) / 1000;
    this.times[this.next] = at / 1000;
    for (const series of HISTORY_SERIES) {
      // Two decimals: the JSON stays short and a chart cannot show more.
      this.rates[series][this.next] = Math.round((Math.max(0, counters[series] - previous.counters[series]) / seconds) * 100) / 100;
    }
    this.next = (this.next + 1) % this.capacity;
    this.size = Math.min(this.size + 1, this.capacity);
  }

  /** The stored rates, oldest first (a copy). */
  snapshot(): HistorySnapshot {
    const start = (this.next - this.size + this.capacity) % this.capacity;
    const read = (column: Float64Array): number[] =>
      Array.from({ length: this.size }, (_, i) => column[(start + i) % this.capacity] as number);
    return {
      t: read(this.times),
      connections: read(this.rates.connections),
      lines: read(this.rates.lines),
      bytesIn: read(this.rates.bytesIn),
      bytesOut: read(this.rates.bytesOut),
    };
  }
}
