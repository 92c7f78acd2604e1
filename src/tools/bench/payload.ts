/**
 * What bench sends: every message unique and checkable byte by byte, built without a string
 * per message.
 *
 * A message of `size` bytes is a sequence number (12 hex digits), the connection's id (8 hex
 * digits) and a filler, in that order, cut to fit; in line mode its last byte is the newline and
 * no other byte is. The filler is printable ASCII in line mode (as echoload's is, so text-mode
 * servers can be measured) and every byte value in raw mode; it starts at a point that depends
 * on the connection and the slot, so a byte dropped or a message misplaced shows up at once.
 *
 * Each connection owns a ring of `depth` message slots; message `seq` lives in slot
 * `seq % depth`, after message `seq - depth`. Only the sequence digits change from one message
 * in a slot to the next, and only the low ones that differ are rewritten: making a message is
 * one or two byte stores. A slot is rewritten only after the echo of the message it
 * held has been checked in full, which also means that message's bytes have long left the
 * socket's write queue: the ring is both what is sent and what the echo is compared with.
 */

export type PayloadMode = 'line' | 'raw';

/** Hex digits of the sequence number: 2^48 messages per connection before it wraps. */
export const SEQ_DIGITS = 12;
const CONN_DIGITS = 8;
const NEWLINE = 0x0a;
/** What fills a message after its numbers, in line mode and on http:// and ws:// (printable, no newline). */
export const FILLER = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const LINE_FILLER = Buffer.from(FILLER, 'latin1');
/** 0..255 once over, so raw mode sends every byte value, NUL, CR, LF and invalid UTF-8 included. */
const RAW_FILLER = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const HEX = Buffer.from('0123456789abcdef', 'latin1');

/** How many sequence digits a message of `size` bytes carries (fewer only for tiny messages). */
export function seqWidth(size: number, mode: PayloadMode): number {
  return Math.min(SEQ_DIGITS, mode === 'line' ? size - 1 : size);
}

/** A ring of `depth` slots for connection `connId`, each filled with its template (sequence 0). */
export function newRing(depth: number, size: number, mode: PayloadMode, connId: number): Buffer {
  const ring = Buffer.allocUnsafe(depth * size);
  for (let slot = 0; slot < depth; slot++) fillTemplate(ring, slot * size, size, mode, connId, slot);
  return ring;
}

function fillTemplate(ring: Buffer, start: number, size: number, mode: PayloadMode, connId: number, slot: number): void {
  const body = mode === 'line' ? size - 1 : size;
  const header = Buffer.from(`${'0'.repeat(SEQ_DIGITS)} ${(connId >>> 0).toString(16).padStart(CONN_DIGITS, '0')} `, 'latin1');
  const headerBytes = Math.min(body, header.length);
  header.copy(ring, start, 0, headerBytes);
  const filler = mode === 'line' ? LINE_FILLER : RAW_FILLER;
  let phase = (connId * 7 + slot * 13) % filler.length;
  for (let i = headerBytes; i < body; i++) {
    ring[start + i] = filler[phase] as number;
    phase = phase + 1 === filler.length ? 0 : phase + 1;
  }
  if (mode === 'line') ring[start + size - 1] = NEWLINE;
}

/**
 * Rewrites the digits of a slot that held `previous` so that it holds `seq`: only the low digits
 * that differ are written (usually one or two). `previous` is -1 for a slot still holding its
 * template (all zeros).
 */
export function advanceSeq(buf: Buffer, offset: number, width: number, seq: number, previous: number): void {
  let value = seq;
  let old = previous < 0 ? 0 : previous;
  for (let i = offset + width - 1; i >= offset && value !== old; i--) {
    const digit = value % 16;
    buf[i] = HEX[digit] as number;
    value = (value - digit) / 16;
    old = (old - (old % 16)) / 16;
  }
}

/** Reads `width` hex digits at `offset`; -1 if any is not a lowercase hex digit. */
export function readSeq(buf: Uint8Array, offset: number, width: number): number {
  let value = 0;
  for (let i = offset; i < offset + width; i++) {
    const byte = buf[i] ?? -1;
    let digit: number;
    if (byte >= 0x30 && byte <= 0x39) digit = byte - 0x30;
    else if (byte >= 0x61 && byte <= 0x66) digit = byte - 0x57;
    else return -1;
    value = value * 16 + digit;
  }
  return value;
}
