/**
 * One second of a bench run, as a row, and the three ways it is printed (`--interval-format`):
 * text (the live line's words), JSON lines and CSV (as iperf3 and tcpkali give them), so a
 * program can follow a run without scraping the terminal line.
 */
import { count, megabytesPerSecond, micros } from '../format.js';
import type { Phase } from './engine.js';

export interface IntervalRow {
  /** Seconds since the run started (warm-up included): the interval's start and end. */
  startS: number;
  endS: number;
  /** The phase of every echo in the row: a phase change closes the row of the phase it ends. */
  phase: Phase;
  /** Echoes completed in the interval. */
  msgs: number;
  msgsPerSec: number;
  mbPerSec: number;
  /** Latencies of the interval's measured echoes, µs; null when none was measured (warm-up). */
  latencyUs: { p50: number; p90: number; p99: number; max: number } | null;
  /** Connection-rate mode: connections that did their round trips and closed in the interval. */
  connects: number;
  /** Errors since the start of the run, all kinds. */
  errors: number;
  open: number;
}

const CSV_COLUMNS = [
  'start_s',
  'end_s',
  'phase',
  'msgs',
  'msgs_per_s',
  'mb_per_s',
  'p50_us',
  'p90_us',
  'p99_us',
  'max_us',
  'connects',
  'errors',
  'open',
] as const;

export const CSV_HEADER = CSV_COLUMNS.join(',');

/** The live line, and `--interval-format text`. */
export function textRow(row: IntervalRow): string {
  const p99 = row.latencyUs === null ? '-' : micros(row.latencyUs.p99);
  const connects = row.connects > 0 ? `  ${count(row.connects / (row.endS - row.startS))} conn/s` : '';
  return `  ${String(Math.round(row.endS)).padStart(4)}s  ${row.phase === 'warmup' ? 'warm-up  ' : 'measuring'}  ${count(row.msgsPerSec).padStart(9)} msg/s  ${megabytesPerSecond(row.mbPerSec * 1e6).padStart(11)}  p99 ${p99.padStart(7)}${connects}  errors ${count(row.errors)}  open ${count(row.open)}`;
}

export function jsonRow(row: IntervalRow): string {
  return JSON.stringify({ type: 'interval', ...row });
}

export function csvRow(row: IntervalRow): string {
  const lat = row.latencyUs;
  const cell = (value: number | undefined): string => (value === undefined ? '' : String(value));
  return [
    row.startS,
    row.endS,
    row.phase,
    row.msgs,
    row.msgsPerSec,
    row.mbPerSec,
    cell(lat?.p50),
    cell(lat?.p90),
    cell(lat?.p99),
    cell(lat?.max),
    row.connects,
    row.errors,
    row.open,
  ].join(',');
}
