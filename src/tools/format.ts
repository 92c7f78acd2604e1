/**
 * Text for people: numbers with separators, latencies with units, and bytes escaped so a
 * report never prints a control byte (or forges a line) whatever the server sent.
 */
import { escapeBytes } from '../core/escape.js';

/** 1234567 → "1,234,567". */
export function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** 1 → "1 byte", 1500 → "1,500 bytes": the count and the noun, agreeing. */
export function plural(n: number, noun: string, nouns = `${noun}s`): string {
  return `${count(n)} ${n === 1 ? noun : nouns}`;
}

/**
 * "a 64-byte", "an 8,192-byte", "an 18-byte": the article that goes with the number as it is
 * read aloud (eight…, eleven, eighteen, eleven thousand…).
 */
export function bytesLong(n: number): string {
  const lead = count(n).split(',')[0] ?? '';
  const vowel = lead.startsWith('8') || lead === '11' || lead === '18';
  return `${vowel ? 'an' : 'a'} ${count(n)}-byte`;
}

/** Microseconds → "812µs", "1.20ms", "2.5s". */
export function micros(us: number): string {
  if (us < 1000) return `${Math.round(us)}µs`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(us < 10_000 ? 2 : 1)}ms`;
  return `${(us / 1_000_000).toFixed(2)}s`;
}

/** Bytes per second → "8.19 MB/s" (decimal megabytes, as echoload prints). */
export function megabytesPerSecond(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1e6).toFixed(bytesPerSecond < 1e7 ? 2 : 1)} MB/s`;
}

/** Where two byte strings first part, shown as a window of each, escaped. */
export interface Difference {
  /** Offset of the first byte that differs (or where one of them ends). */
  offset: number;
  expectedLength: number;
  gotLength: number;
  /** 1-based line of `offset` in the expected bytes, and the column in that line. */
  line: number;
  column: number;
  /** Escaped bytes of each from a little before `offset`; `…` marks a cut. */
  expected: string;
  got: string;
  /** One sentence: "byte 17 of 40 differs (line 1, column 18)", "got 12 of 40 bytes", … */
  summary: string;
}

/** Bytes shown either side of the first difference. */
const CONTEXT_BEFORE = 12;
const CONTEXT_AFTER = 20;

/** Null when equal; else where and how `got` differs from `expected`. */
export function difference(expected: Uint8Array, got: Uint8Array): Difference | null {
  const shorter = Math.min(expected.length, got.length);
  let offset = 0;
  while (offset < shorter && expected[offset] === got[offset]) offset++;
  if (offset === shorter && expected.length === got.length) return null;
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < expected.length; i++) {
    if (expected[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  const column = offset - lineStart + 1;
  const where = `(line ${count(line)}, column ${count(column)})`;
  let summary: string;
  if (offset === got.length)
    summary = `got ${count(got.length)} of ${count(expected.length)} bytes: the echo stops at byte ${count(offset)} ${where}`;
  else if (offset === expected.length)
    summary = `got ${plural(got.length - expected.length, 'byte')} more than the ${count(expected.length)} sent`;
  else
    summary = `byte ${count(offset)} differs ${where}: expected "${escapeBytes(expected.subarray(offset, offset + 1))}", got "${escapeBytes(got.subarray(offset, offset + 1))}"`;
  return {
    offset,
    expectedLength: expected.length,
    gotLength: got.length,
    line,
    column,
    expected: window(expected, offset),
    got: window(got, offset),
    summary,
  };
}

function window(bytes: Uint8Array, offset: number): string {
  const start = Math.max(0, offset - CONTEXT_BEFORE);
  const end = Math.min(bytes.length, offset + CONTEXT_AFTER);
  return `${start > 0 ? '…' : ''}"${escapeBytes(bytes.subarray(start, end))}"${end < bytes.length ? '…' : ''}`;
}
