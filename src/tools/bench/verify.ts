/**
 * Byte checking for bench: where an echo first differs from what was sent, described for the
 * report. The hot path compares whole runs natively (stream.ts, datagram.ts); these run only
 * once something differed, to say which message, which byte and how.
 */
import { escapeBytes } from '../../core/escape.js';
import { type Difference, difference } from '../format.js';
import type { ErrorKind } from './errors.js';
import { type PayloadMode, SEQ_DIGITS } from './payload.js';
import type { TransportSpec } from '../target.js';

/** A bad echo, located. */
export interface Mismatch {
  /** Sequence number of the message holding the first bad byte. */
  seq: number;
  difference: Difference | null;
}

/**
 * A stream chunk `buf[off, off + take)` differs from the ring's bytes from `slot`, `rpos` bytes
 * into message `recvSeq`: finds the message holding the first bad byte, and compares as much
 * of it as the chunk has.
 */
export function streamMismatch(
  ring: Buffer,
  size: number,
  slot: number,
  rpos: number,
  recvSeq: number,
  buf: Buffer,
  off: number,
  take: number,
): Mismatch {
  let i = 0;
  const ringPos = slot * size + rpos;
  while (i < take && buf[off + i] === ring[ringPos + i]) i++;
  const intoRun = rpos + i;
  const message = (intoRun - (intoRun % size)) / size;
  const seq = recvSeq + message;
  const messageStart = (slot + message) * size;
  const firstByte = message === 0 ? rpos : 0;
  const gotStart = off + message * size - rpos + firstByte;
  const expected = ring.subarray(messageStart, messageStart + size);
  const got = buf.subarray(gotStart, Math.min(off + take, gotStart + size - firstByte));
  const diff = difference(expected.subarray(firstByte, firstByte + got.length), got);
  if (diff !== null) {
    diff.offset += firstByte;
    diff.summary = `byte ${diff.offset} of ${size} differs: expected "${escapeBytes(expected.subarray(diff.offset, diff.offset + 1))}", got "${escapeBytes(got.subarray(diff.offset - firstByte, diff.offset - firstByte + 1))}"`;
  }
  return { seq, difference: diff };
}

/** A datagram that is not exactly `expected`: cut short (truncated) or changed (mismatch). */
export function datagramMismatch(expected: Buffer, msg: Buffer): { kind: ErrorKind; difference: Difference | null } {
  const diff = difference(expected, msg);
  const kind: ErrorKind = msg.length < expected.length && diff !== null && diff.offset === msg.length ? 'truncated' : 'mismatch';
  return { kind, difference: diff };
}

/** Width check for UDP, whose datagrams are matched by their sequence number. */
export function minimumSize(transport: TransportSpec['kind'], mode: PayloadMode): number {
  if (transport !== 'udp') return 1;
  return mode === 'line' ? SEQ_DIGITS + 1 : SEQ_DIGITS;
}
