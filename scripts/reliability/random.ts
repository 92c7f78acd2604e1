// A small seeded generator (mulberry32), so every "random" load can be replayed exactly: the
// scenarios name their seed in the report.

export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** `length` bytes of any value (newlines, NUL, invalid UTF-8 and all). */
  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i += 4) {
      const word = Math.floor(this.next() * 4294967296);
      for (let j = 0; j < 4 && i + j < length; j++) out[i + j] = (word >>> (8 * j)) & 0xff;
    }
    return out;
  }

  /** `length` bytes of lines: printable text, a newline after every 1 to `maxLine` bytes. */
  lines(length: number, maxLine: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    let next = this.int(1, maxLine);
    for (let i = 0; i < length; i++) {
      if (--next === 0) {
        out[i] = 0x0a;
        next = this.int(1, maxLine);
      } else {
        out[i] = 0x21 + (i % 94);
      }
    }
    return out;
  }

  /** `data` cut into pieces of 1 to `maxPiece` bytes. */
  split(data: Buffer, maxPiece: number): Buffer[] {
    const pieces: Buffer[] = [];
    for (let at = 0; at < data.length;) {
      const size = Math.min(data.length - at, this.int(1, maxPiece));
      pieces.push(data.subarray(at, at + size));
      at += size;
    }
    return pieces;
  }
}
