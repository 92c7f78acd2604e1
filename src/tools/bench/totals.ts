/**
 * Adds bench's engines' intervals up, second by second: the run's histogram, the live line and
 * the `--histogram` log.
 */
import { formatTarget } from '../target.js';
import type { IntervalReport } from './engine.js';
import { ERROR_KINDS, type ErrorCounts } from './errors.js';
import { type Histogram, HistogramLog, totalHistogram } from './histogram.js';
import type { BenchOptions } from './options.js';
import type { IntervalRow } from './interval.js';
import { describeLoad } from './report.js';

/** Adds the engines' intervals up: the run's histogram, the live line, the `--histogram` log. */
export class Totals {
  readonly total: Histogram = totalHistogram();
  readonly log: HistogramLog;
  private readonly options: BenchOptions;
  /** Since the last tick. */
  private messages = 0;
  private connects = 0;
  /** An interval since the last tick was measured. */
  private measured = false;
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
    this.log = new HistogramLog(Date.now(), [
      `echod bench ${formatTarget(options.target)}: ${describeLoad(options)}`,
      'values in microseconds (Interval_Max in milliseconds)',
    ]);
  }

  /** One interval of engine `engine`; `ticked`: asked for by the ticker (else handed in at a phase change). */
  add(engine: number, interval: IntervalReport, ticked: boolean): void {
    // Errors and open connections are each engine's latest cumulative figures.
    this.errors.set(engine, interval.errors);
    this.open.set(engine, interval.open);
    this.messages += interval.messages;
    this.connects += interval.connects;
    this.spanStart = Math.min(this.spanStart, interval.startMs);
    this.spanEnd = Math.max(this.spanEnd, interval.endMs);
    if (ticked) this.phase = interval.phase;
    if (interval.phase !== 'measure') return;
    this.measured = true;
    this.total.add(interval.histogram);
    this.tickHistogram.add(interval.histogram);
    this.pending.add(interval.histogram);
    this.pendingStart = Math.min(this.pendingStart, interval.startMs);
    this.pendingEnd = Math.max(this.pendingEnd, interval.endMs);
  }

  /** Ends a second (or, at the end, what is left of one): writes its log line and returns its row. */
  tick(startedAt: number): IntervalRow | null {
    this.flushLog();
    const seconds = (this.spanEnd - this.spanStart) / 1000;
    if (!(seconds > 0)) return null;
    const rate = this.messages / seconds;
    const h = this.tickHistogram;
    const at = (percentile: number): number => Math.min(h.getValueAtPercentile(percentile), h.maxValue);
    let errors = 0;
    for (const counts of this.errors.values()) for (const kind of ERROR_KINDS) errors += counts[kind];
    let open = 0;
    for (const n of this.open.values()) open += n;
    const row: IntervalRow = {
      startS: round3((this.spanStart - startedAt) / 1000),
      endS: round3((this.spanEnd - startedAt) / 1000),
      phase: this.measured ? 'measure' : this.phase,
      msgs: this.messages,
      msgsPerSec: Math.round(rate),
      mbPerSec: Math.round((rate * this.options.size) / 1e4) / 100,
      latencyUs: h.totalCount > 0 ? { p50: at(50), p90: at(90), p99: at(99), max: h.maxValue } : null,
      connects: this.connects,
      errors,
      open,
    };
    this.messages = 0;
    this.connects = 0;
    this.measured = false;
    this.spanStart = Number.POSITIVE_INFINITY;
    this.spanEnd = 0;
    this.tickHistogram = totalHistogram();
    return row;
  }

  flushLog(): void {
    if (this.pending.totalCount === 0) return;
    this.log.add(this.pending, this.pendingStart, this.pendingEnd);
    this.pending = totalHistogram();
    this.pendingStart = Number.POSITIVE_INFINITY;
    this.pendingEnd = 0;
  }
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
