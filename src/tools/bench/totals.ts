/**
 * Adds bench's engines' intervals up, second by second: the run's histogram, the per-second rows
 * (the live line, `--interval-format`) and the `--histogram` log.
 *
 * A row holds one phase. The ticker closes a row each second; a phase change closes the rows of
 * the phase it ends at once (a part-second row), so that no warm-up echo is counted in a
 * `measure` row and the `measure` rows add up to exactly the summary's messages.
 */
import { formatTarget } from '../target.js';
import type { IntervalReport, Phase } from './engine.js';
import { ERROR_KINDS, type ErrorCounts } from './errors.js';
import { type Histogram, HistogramLog, totalHistogram } from './histogram.js';
import type { BenchOptions } from './options.js';
import type { IntervalRow } from './interval.js';
import { describeLoad } from './report.js';

/**
 * A ticked row shorter than this is carried into the next one of its phase: the first tick after a
 * phase change would otherwise print a row of a millisecond or so, its rate meaningless.
 */
const MIN_TICKED_ROW_MS = 500;
const PHASES: readonly Phase[] = ['warmup', 'measure'];

/** What one phase gathered since its last row. */
class PhaseRow {
  messages = 0;
  connects = 0;
  start = Number.POSITIVE_INFINITY;
  end = 0;
  histogram: Histogram = totalHistogram();

  add(interval: IntervalReport): void {
    this.messages += interval.messages;
    this.connects += interval.connects;
    this.start = Math.min(this.start, interval.startMs);
    this.end = Math.max(this.end, interval.endMs);
    if (interval.phase === 'measure') this.histogram.add(interval.histogram);
  }

  get spanMs(): number {
    return this.end > this.start ? this.end - this.start : 0;
  }
}

export class Totals {
  readonly total: Histogram = totalHistogram();
  readonly log: HistogramLog;
  private readonly options: BenchOptions;
  private readonly engines: number;
  private readonly startedAt: number;
  private readonly rows: Record<Phase, PhaseRow> = { warmup: new PhaseRow(), measure: new PhaseRow() };
  /** How many engines have left each phase (handed in its last interval). */
  private readonly left: Record<Phase, number> = { warmup: 0, measure: 0 };
  private readonly errors = new Map<number, ErrorCounts>();
  private readonly open = new Map<number, number>();
  /** Measured intervals not yet written to the log, and their span. */
  private pending: Histogram = totalHistogram();
  private pendingStart = Number.POSITIVE_INFINITY;
  private pendingEnd = 0;

  /** `engines`: how many engines hand intervals in; `startedAt`: epoch ms the rows count from. */
  constructor(options: BenchOptions, engines: number, startedAt: number) {
    this.options = options;
    this.engines = engines;
    this.startedAt = startedAt;
    this.log = new HistogramLog(Date.now(), [
      `echod bench ${formatTarget(options.target)}: ${describeLoad(options)}`,
      'values in microseconds (Interval_Max in milliseconds)',
    ]);
  }

  /**
   * One interval of engine `engine`; `ticked`: asked for by the ticker, else handed in at a phase
   * change. Returns the row that phase change closed, once every engine has left the phase.
   */
  add(engine: number, interval: IntervalReport, ticked: boolean): IntervalRow[] {
    // Errors and open connections are each engine's latest cumulative figures.
    this.errors.set(engine, interval.errors);
    this.open.set(engine, interval.open);
    this.rows[interval.phase].add(interval);
    if (interval.phase === 'measure') {
      this.total.add(interval.histogram);
      this.pending.add(interval.histogram);
      this.pendingStart = Math.min(this.pendingStart, interval.startMs);
      this.pendingEnd = Math.max(this.pendingEnd, interval.endMs);
    }
    if (ticked) return [];
    this.left[interval.phase]++;
    return this.left[interval.phase] === this.engines ? this.close(interval.phase) : [];
  }

  /**
   * The ticker's second: the rows of the phases every engine is still in (a phase some engines
   * have left waits for the others, whose phase change closes it); writes the log line.
   */
  tick(): IntervalRow[] {
    this.flushLog();
    return PHASES.filter((phase) => this.left[phase] === 0 && this.rows[phase].spanMs >= MIN_TICKED_ROW_MS).flatMap((phase) =>
      this.close(phase),
    );
  }

  /** At the end of the run: whatever is left, of either phase. */
  finish(): IntervalRow[] {
    this.flushLog();
    return PHASES.flatMap((phase) => this.close(phase));
  }

  /** The row of `phase` since its last one (none if no time passed), and a fresh one. */
  private close(phase: Phase): IntervalRow[] {
    const gathered = this.rows[phase];
    this.rows[phase] = new PhaseRow();
    const seconds = gathered.spanMs / 1000;
    if (!(seconds > 0)) return [];
    if (phase === 'measure') this.flushLog();
    const rate = gathered.messages / seconds;
    const h = gathered.histogram;
    const at = (percentile: number): number => Math.min(h.getValueAtPercentile(percentile), h.maxValue);
    let errors = 0;
    for (const counts of this.errors.values()) for (const kind of ERROR_KINDS) errors += counts[kind];
    let open = 0;
    for (const n of this.open.values()) open += n;
    return [
      {
        startS: round3((gathered.start - this.startedAt) / 1000),
        endS: round3((gathered.end - this.startedAt) / 1000),
        phase,
        msgs: gathered.messages,
        msgsPerSec: Math.round(rate),
        mbPerSec: Math.round((rate * this.options.size) / 1e4) / 100,
        latencyUs: h.totalCount > 0 ? { p50: at(50), p90: at(90), p99: at(99), max: h.maxValue } : null,
        connects: gathered.connects,
        errors,
        open,
      },
    ];
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
