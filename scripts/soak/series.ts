// The soak's time series: one sample every few seconds, written out as CSV, and the test for
// an upward trend after warm-up.

export interface Sample {
  /** Seconds since the load started. */
  t: number;
  rssBytes: number;
  heapUsedBytes: number;
  openFds: number;
  activeConnections: number;
  echoes: number;
  bytesVerified: number;
  wrongEchoes: number;
  clientErrors: number;
  /** Connections echod closed with reason `error`, plus its internal errors. */
  serverErrors: number;
}

const COLUMNS: readonly (keyof Sample)[] = [
  't',
  'rssBytes',
  'heapUsedBytes',
  'openFds',
  'activeConnections',
  'echoes',
  'bytesVerified',
  'wrongEchoes',
  'clientErrors',
  'serverErrors',
];
const HEADERS = [
  't_s',
  'rss_bytes',
  'heap_used_bytes',
  'open_fds',
  'active_connections',
  'echoes_verified',
  'bytes_verified',
  'wrong_echoes',
  'client_errors',
  'server_errors',
];

export function toCsv(samples: readonly Sample[]): string {
  const rows = samples.map((sample) => COLUMNS.map((column) => (column === 't' ? sample.t.toFixed(1) : String(sample[column]))).join(','));
  return `${HEADERS.join(',')}\n${rows.join('\n')}\n`;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Least-squares slope of `values` against `times`, per second. */
function slope(times: readonly number[], values: readonly number[]): number {
  const n = times.length;
  const meanT = times.reduce((a, b) => a + b, 0) / n;
  const meanV = values.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    const dt = (times[i] as number) - meanT;
    num += dt * ((values[i] as number) - meanV);
    den += dt * dt;
  }
  return den === 0 ? 0 : num / den;
}

export interface Trend {
  series: string;
  /** Median of the first and of the last quarter of the samples after warm-up. */
  firstMedian: number;
  lastMedian: number;
  /** How much the last quarter's median may exceed the first's. */
  tolerance: number;
  /** Least-squares slope over all samples after warm-up, per minute (reported, not judged). */
  slopePerMinute: number;
  upward: boolean;
}

/**
 * The verdict on one series: it "trends upward" when the median of the last quarter of the
 * post-warm-up samples exceeds the median of the first quarter by more than
 * max(`absolute`, `relative` × first median). Medians of quarters ride out GC sawtooth and
 * churn noise; a leak moves them.
 */
export function trendOf(
  series: string,
  samples: readonly Sample[],
  pick: (sample: Sample) => number,
  absolute: number,
  relative: number,
): Trend {
  const quarter = Math.max(1, Math.floor(samples.length / 4));
  const values = samples.map(pick);
  const firstMedian = median(values.slice(0, quarter));
  const lastMedian = median(values.slice(-quarter));
  const tolerance = Math.max(absolute, relative * firstMedian);
  return {
    series,
    firstMedian,
    lastMedian,
    tolerance,
    slopePerMinute:
      slope(
        samples.map((sample) => sample.t),
        values,
      ) * 60,
    upward: lastMedian - firstMedian > tolerance,
  };
}
