/**
 * Latency histograms (HdrHistogram, via hdr-histogram-js): values in microseconds, 3
 * significant digits, from 1 µs to an hour. Interval histograms (one per second of a run) are
 * what the engines record into; the run's total is their sum, and the `--histogram` file is
 * their HdrHistogram log.
 */
import { writeFileSync } from 'node:fs';
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64, type Histogram, HistogramLogWriter } from 'hdr-histogram-js';

/** An hour, in µs: a latency above it is recorded as an hour. */
const MAX_LATENCY_US = 3_600_000_000;
const SIGNIFICANT_DIGITS = 3;

/** An interval's histogram: 32-bit counts are plenty for a second. */
function intervalHistogram(): Histogram {
  return build({
    bitBucketSize: 32,
    lowestDiscernibleValue: 1,
    highestTrackableValue: MAX_LATENCY_US,
    numberOfSignificantValueDigits: SIGNIFICANT_DIGITS,
    autoResize: false,
  });
}

/** A run's total: 64-bit counts, since one bucket of a long run can pass 2^31. */
export function totalHistogram(): Histogram {
  return build({
    bitBucketSize: 64,
    lowestDiscernibleValue: 1,
    highestTrackableValue: MAX_LATENCY_US,
    numberOfSignificantValueDigits: SIGNIFICANT_DIGITS,
    autoResize: false,
  });
}

/** Latencies below this many µs (65 ms) are counted in a plain array first (see {@link LatencyRecorder}). */
const DIRECT_LIMIT_US = 65_536;

/**
 * The hot-path front of an interval histogram. hdr-histogram-js's `recordValue` costs as much
 * as the rest of the work on one message (docs/tools.md), so exact µs values below 65 ms are
 * counted in a plain array and handed to the histogram, each distinct value once with its
 * count, when the interval is taken. Nothing is rounded: the histogram receives exactly the
 * values it would have been given one by one.
 */
export class LatencyRecorder {
  private readonly counts = new Uint32Array(DIRECT_LIMIT_US);
  private low = DIRECT_LIMIT_US;
  private high = -1;
  private histogram = intervalHistogram();

  record(us: number): void {
    if (us < DIRECT_LIMIT_US) {
      this.counts[us] = (this.counts[us] as number) + 1;
      if (us < this.low) this.low = us;
      if (us > this.high) this.high = us;
    } else {
      this.histogram.recordValue(us > MAX_LATENCY_US ? MAX_LATENCY_US : us);
    }
  }

  /** Everything recorded since the last call, as a histogram; recording starts afresh. */
  take(): Histogram {
    const { counts, histogram } = this;
    for (let us = this.low; us <= this.high; us++) {
      const n = counts[us] as number;
      if (n > 0) histogram.recordValueWithCount(us, n);
    }
    if (this.high >= this.low) counts.fill(0, this.low, this.high + 1);
    this.low = DIRECT_LIMIT_US;
    this.high = -1;
    this.histogram = intervalHistogram();
    return histogram;
  }
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
  p75: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export function summarize(histogram: Histogram): LatencySummary {
  if (histogram.totalCount === 0) return { count: 0, min: 0, mean: 0, p50: 0, p75: 0, p90: 0, p99: 0, p999: 0, max: 0 };
  // A percentile is the top of its bucket, which can lie above the largest value recorded.
  const max = histogram.maxValue;
  const at = (percentile: number): number => Math.min(histogram.getValueAtPercentile(percentile), max);
  return {
    count: histogram.totalCount,
    min: histogram.minNonZeroValue,
    mean: Math.round(histogram.mean),
    p50: at(50),
    p75: at(75),
    p90: at(90),
    p99: at(99),
    p999: at(99.9),
    max,
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
