/**
 * Latency histograms (HdrHistogram, via hdr-histogram-js): values in microseconds, 3
 * significant digits, from 1 µs to an hour. Interval histograms (one per second of a run) are
 * what the engines record into; the run's total is their sum, and the `--histogram` file is
 * their HdrHistogram log.
 */
import { writeFileSync } from 'node:fs';
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64, type Histogram, HistogramLogWriter } from 'hdr-histogram-js';

/** An hour, in µs: a latency above it is recorded as an hour. */
export const MAX_LATENCY_US = 3_600_000_000;
const SIGNIFICANT_DIGITS = 3;

/** An interval's histogram: 32-bit counts are plenty for a second. */
export function intervalHistogram(): Histogram {
  return build({ bitBucketSize: 32, lowestDiscernibleValue: 1, highestTrackableValue: MAX_LATENCY_US, numberOfSignificantValueDigits: SIGNIFICANT_DIGITS, autoResize: false });
}

/** A run's total: 64-bit counts, since one bucket of a long run can pass 2^31. */
export function totalHistogram(): Histogram {
  return build({ bitBucketSize: 64, lowestDiscernibleValue: 1, highestTrackableValue: MAX_LATENCY_US, numberOfSignificantValueDigits: SIGNIFICANT_DIGITS, autoResize: false });
}

/** For passing an interval from a worker thread: HdrHistogram's compressed base64 (V2) encoding. */
export function encodeHistogram(histogram: Histogram): string {
  return encodeIntoCompressedBase64(histogram);
}

export function decodeHistogram(encoded: string): Histogram {
  return decodeFromCompressedBase64(encoded, 32);
}

export interface LatencySummary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export function summarize(histogram: Histogram): LatencySummary {
  if (histogram.totalCount === 0) return { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
  return {
    count: histogram.totalCount,
    min: histogram.minNonZeroValue,
    mean: Math.round(histogram.mean),
    p50: histogram.getValueAtPercentile(50),
    p90: histogram.getValueAtPercentile(90),
    p99: histogram.getValueAtPercentile(99),
    p999: histogram.getValueAtPercentile(99.9),
    max: histogram.maxValue,
  };
}

/**
 * The `--histogram FILE` log: HdrHistogram's log format (version 1.3), one line per interval,
 * values in µs (so the Interval_Max column, divided by 1000, is in ms). Readable by
 * HistogramLogReader in any HdrHistogram implementation, and by HdrHistogram's log analyzers.
 */
export class HistogramLog {
  private text = '';
  private readonly writer: HistogramLogWriter;

  constructor(startMs: number, comments: readonly string[]) {
    this.writer = new HistogramLogWriter((content) => {
      this.text += content;
    });
    this.writer.baseTime = startMs;
    this.writer.outputLogFormatVersion();
    for (const comment of comments) this.writer.outputComment(comment);
    this.writer.outputStartTime(startMs);
    this.writer.outputLegend();
  }

  /** One interval; its start and end are epoch milliseconds. */
  add(histogram: Histogram, startMs: number, endMs: number): void {
    histogram.startTimeStampMsec = startMs;
    histogram.endTimeStampMsec = endMs;
    this.writer.outputIntervalHistogram(histogram);
  }

  write(path: string): void {
    writeFileSync(path, this.text);
  }
}

export type { Histogram };
