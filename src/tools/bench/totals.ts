/**
 * Adds bench's engines' intervals up, second by second: the run's histogram, the live line and
 * the `--histogram` log.
 */
import { formatTarget } from '../target.js';
import { count, megabytesPerSecond, micros } from '../format.js';
import type { IntervalReport } from './engine.js';
import { ERROR_KINDS, type ErrorCounts } from './errors.js';
import { type Histogram, HistogramLog, totalHistogram } from './histogram.js';
import type { BenchOptions } from './options.js';
import { describeLoad } from './report.js';

/** Adds the engines' intervals up: the run's histogram, the live line, the `--histogram` log. */
export class Totals {
  readonly total: Histogram = totalHistogram();
  readonly log: HistogramLog;
  private readonly options: BenchOptions;
  /** Since the last tick. */
  private messages = 0;
  private spanStart = Number.POSITIVE_INFINITY;
  private spanEnd = 0;
  private phase: IntervalReport['phase'] = 'warmup';
  private tickHistogram: Histogram = totalHistogram();
  private readonly errors = new Map<number, ErrorCounts>();
  private readonly open = new Map<number, number>();
  /** Measured intervals not yet written to the log, and their span. */
  private pending: Histogram = totalHistogram();
  private pendingStart = Number.POSITIVE_INFINITY;
  private pendingEnd = 0;

  constructor(options: BenchOptions) {
    this.options = options;
    this.log = new HistogramLog(Date.now(), [`echod bench ${formatTarget(options.target)}: ${describeLoad(options)}`, 'values in microseconds (Interval_Max in milliseconds)']);
  }

  /** One interval of engine `engine`; `ticked`: asked for by the ticker (else handed in at a phase change). */
  add(engine: number, interval: IntervalReport, ticked: boolean): void {
    // Errors and open connections are each engine's latest cumulative figures.
    this.errors.set(engine, interval.errors);
    this.open.set(engine, interval.open);
    this.messages += interval.messages;
    this.spanStart = Math.min(this.spanStart, interval.startMs);
    this.spanEnd = Math.max(this.spanEnd, interval.endMs);
    if (ticked) this.phase = interval.phase;
    if (interval.phase !== 'measure') return;
    this.total.add(interval.histogram);
    this.tickHistogram.add(interval.histogram);
    this.pending.add(interval.histogram);
    this.pendingStart = Math.min(this.pendingStart, interval.startMs);
    this.pendingEnd = Math.max(this.pendingEnd, interval.endMs);
  }

  /** Ends a second: writes its log line and returns the live line. */
  tick(startedAt: number): string | null {
    this.flushLog();
    const seconds = (this.spanEnd - this.spanStart) / 1000;
    if (!(seconds > 0)) return null;
    const rate = this.messages / seconds;
    const p99 = this.tickHistogram.totalCount > 0 ? micros(this.tickHistogram.getValueAtPercentile(99)) : '-';
    let errors = 0;
    for (const counts of this.errors.values()) for (const kind of ERROR_KINDS) errors += counts[kind];
    let open = 0;
    for (const n of this.open.values()) open += n;
    const elapsed = Math.round((Date.now() - startedAt) / 1000);
    const line = `  ${String(elapsed).padStart(4)}s  ${this.phase === 'warmup' ? 'warm-up  ' : 'measuring'}  ${count(rate).padStart(9)} msg/s  ${megabytesPerSecond(rate * this.options.size).padStart(11)}  p99 ${p99.padStart(7)}  errors ${count(errors)}  open ${count(open)}`;
    this.messages = 0;
    this.spanStart = Number.POSITIVE_INFINITY;
    this.spanEnd = 0;
    this.tickHistogram = totalHistogram();
    return line;
  }

  flushLog(): void {
    if (this.pending.totalCount === 0) return;
    this.log.add(this.pending, this.pendingStart, this.pendingEnd);
    this.pending = totalHistogram();
    this.pendingStart = Number.POSITIVE_INFINITY;
    this.pendingEnd = 0;
  }
}
