// Latency figures from plain arrays of milliseconds: sorted, nearest-rank percentiles. The
// scenarios collect at most some tens of thousands of samples, so a histogram library buys
// nothing here.

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Nearest-rank percentile (`q` from 0 to 1) of an ascending array; NaN when it is empty. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] as number;
}

export function summarize(samplesMs: readonly number[]): LatencySummary {
  const sorted = Float64Array.from(samplesMs).sort();
  const values = Array.from(sorted);
  return {
    count: values.length,
    p50Ms: percentile(values, 0.5),
    p99Ms: percentile(values, 0.99),
    maxMs: values.length > 0 ? (values[values.length - 1] as number) : Number.NaN,
  };
}

/** `p50 0.21 / p99 1.9 / max 12.4 ms (n=4000)` */
export function formatLatency(summary: LatencySummary): string {
  if (summary.count === 0) return 'no samples';
  return `p50 ${ms(summary.p50Ms)} / p99 ${ms(summary.p99Ms)} / max ${ms(summary.maxMs)} ms (n=${summary.count})`;
}

function ms(value: number): string {
  return value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0);
}

export const MIB = 1024 * 1024;

/** Bytes as MiB with one decimal: `52.3 MiB`. */
export function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}
