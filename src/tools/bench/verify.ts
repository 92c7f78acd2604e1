/**
 * Byte checking for bench: the hot path's comparison of a run of echoed bytes with the bytes
 * sent ({@link sameBytes}), and, once something differed, where: which message, which byte and
 * how.
 */
import { escapeBytes } from '../../core/escape.js';
import { type Difference, difference } from '../format.js';
import type { ErrorKind } from './errors.js';
import { type PayloadMode, SEQ_DIGITS } from './payload.js';
import type { TransportSpec } from '../target.js';

/**
 * Runs up to this long are compared in JavaScript a 32-bit word at a time when both start on a
 * word boundary: a native `Buffer.compare` with offsets costs ~150 ns whatever the length (the
 * call and its argument checks), the word loop ~30 ns for 64 bytes and as much as the native
 * call at about 200.
 */
const WORDWISE_MAX_BYTES = 128;

/** `bytes`' whole ArrayBuffer as 32-bit words, for {@link sameBytes}. */
export function wordsOf(bytes: Buffer): Int32Array {
  return new Int32Array(bytes.buffer, 0, bytes.buffer.byteLength >>> 2);
}

/**
 * Whether `a[aOff, aOff + n)` and `b[bOff, bOff + n)` hold the same bytes. `aWords` and
 * `bWords` are {@link wordsOf} the two buffers, or null to compare natively.
 */
export function sameBytes(
  a: Buffer,
  aWords: Int32Array | null,
  aOff: number,
  b: Buffer,
  bWords: Int32Array | null,
  bOff: number,
  n: number,
): boolean {
  if (aWords !== null && bWords !== null && n <= WORDWISE_MAX_BYTES) {
    const x = a.byteOffset + aOff;
    const y = b.byteOffset + bOff;
    if (((x | y) & 3) === 0) {
      let i = x >>> 2;
      let j = y >>> 2;
      const end = i + (n >>> 2);
      for (; i < end; i++, j++) if (aWords[i] !== bWords[j]) return false;
      for (let k = n & ~3; k < n; k++) if (a[aOff + k] !== b[bOff + k]) return false;
      return true;
    }
  }
  return a.compare(b, bOff, bOff + n, aOff, aOff + n) === 0;
}

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
