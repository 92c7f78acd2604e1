// Reading back the HdrHistogram log that `echod bench --histogram FILE` writes.
import { HistogramLogReader } from 'hdr-histogram-js';

/** The log's intervals, and the values they hold together. */
export function histogramLogTotals(text: string): { intervals: number; total: number } {
  const reader = new HistogramLogReader(text);
  let total = 0;
  let intervals = 0;
  for (let h = reader.nextIntervalHistogram(); h !== null; h = reader.nextIntervalHistogram()) {
    total += h.totalCount;
    intervals++;
  }
  return { intervals, total };
}
