/**
 * Fault injection, off by default so plain echo stays byte-exact and fast: delay (with jitter),
 * throttling, chunked writes, closing after N lines/bytes/ms with FIN or RST, hanging after
 * accept, refusing a share of connections, and for UDP dropping, duplicating and reordering.
 *
 * The option parsers are pure. The faults act in src/connection/shaper.ts (TCP output) and
 * src/transports/udp.ts (datagrams).
 */
import { MAX_TIMER_MS, parseBytes, parseDurationMs } from '../core/units.js';

export interface FaultOptions {
  /** Hold each echo this long before sending it, order kept; a [min, max] range is uniform jitter. */
  delayMs?: [number, number];
  /** Bytes per second per connection, each direction. */
  throttleBytesPerSecond?: number;
  /** Echo in writes of at most this many bytes. */
  chunkBytes?: number;
  /** Close once this many lines or bytes were echoed, or this long after opening. */
  closeAfter?: { lines: number } | { bytes: number } | { ms: number };
  /** How `closeAfter` closes: FIN (graceful) or RST. @default 'fin' */
  closeHow?: 'fin' | 'rst';
  /** Accept, then never read nor echo (the client's timeouts are what is tested). */
  acceptThenHang?: boolean;
  /** Close this share (0…1) of new connections at once. */
  refuseRate?: number;
  /** UDP: drop this share of datagrams. */
  dropRate?: number;
  /** UDP: answer this share of datagrams twice. */
  duplicateRate?: number;
  /** UDP: hold answers and release them shuffled within windows of this many. */
  reorderWindow?: number;
}

export class FaultOptionError extends Error {
  readonly code = 'ERR_ECHOD_FAULT_OPTION';
}

/** `50ms` → [50, 50]; `20ms..80ms` → [20, 80]. */
export function parseDelay(text: string): [number, number] {
  const [low = '', high, extra] = text.split('..');
  const min = parseDurationMs(low);
  const max = high === undefined ? min : parseDurationMs(high);
  if (extra !== undefined || min === undefined || max === undefined || max < min || max > MAX_TIMER_MS) {
    throw new FaultOptionError(`delay ${JSON.stringify(text)}: expected a duration (50ms) or a range (20ms..80ms)`);
  }
  return [min, max];
}

/** `64KiB/s` → 65536. */
export function parseThrottle(text: string): number {
  const match = /^(.+)\/s$/.exec(text.trim());
  const bytes = match === null ? undefined : parseBytes(match[1] ?? '');
  if (bytes === undefined || bytes === 0 || !Number.isSafeInteger(bytes)) throw new FaultOptionError(`throttle ${JSON.stringify(text)}: expected a rate such as 64KiB/s`);
  return bytes;
}

/** `lines=10`, `bytes=1MiB`, `time=30s`. */
export function parseCloseAfter(text: string): NonNullable<FaultOptions['closeAfter']> {
  const match = /^(lines|bytes|time)=(.+)$/.exec(text.trim());
  if (match !== null) {
    const [, kind, value = ''] = match;
    if (kind === 'lines' && /^[1-9]\d*$/.test(value)) return { lines: Number(value) };
    if (kind === 'bytes') {
      const bytes = parseBytes(value);
      if (bytes !== undefined && bytes > 0) return { bytes };
    }
    if (kind === 'time') {
      const ms = parseDurationMs(value);
      if (ms !== undefined && ms > 0 && ms <= MAX_TIMER_MS) return { ms };
    }
  }
  throw new FaultOptionError(`close-after ${JSON.stringify(text)}: expected lines=N, bytes=SIZE or time=DURATION`);
}

export function parseRate(name: string, text: string): number {
  const rate = Number(text);
  if (text.trim() === '' || !Number.isFinite(rate) || rate < 0 || rate > 1) throw new FaultOptionError(`${name} ${JSON.stringify(text)}: expected a share from 0 to 1`);
  return rate;
}

export function parsePositiveInteger(name: string, text: string): number {
  const value = Number(text);
  if (!/^[1-9]\d*$/.test(text.trim()) || !Number.isSafeInteger(value)) throw new FaultOptionError(`${name} ${JSON.stringify(text)}: expected a whole number ≥ 1`);
  return value;
}

/** Whether any per-connection output fault is set (the shaper is needed). */
export function shapesOutput(faults: FaultOptions | null): boolean {
  return faults !== null && (faults.delayMs !== undefined || faults.throttleBytesPerSecond !== undefined || faults.chunkBytes !== undefined || faults.closeAfter !== undefined);
}
