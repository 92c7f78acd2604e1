/**
 * Where the CLI's JSON log lines go first: a batch buffer outside the JS heap, handed to the
 * destination (sonic-boom, in buffer mode) when full or LOG_FLUSH_MS after its first line. So a
 * line never lives as a long string: the garbage collector never copies or promotes lines
 * waiting for a write, and sonic-boom never re-measures a growing string (figures:
 * docs/performance.md). At most one batch waits here; the bound on what waits for stdout is the
 * destination's.
 *
 * Two ways in: `write(line)` for a finished string (pino's lines), and `room` / `commit` for an
 * encoder that writes a line's bytes straight into `buffer` at `used` (json-lines.ts), so the
 * common lines are never a string at all.
 */

/** Lines are written once this much is waiting... */
export const LOG_BATCH_BYTES = 64 * 1024;
/** ...or after this long, whichever comes first. */
export const LOG_FLUSH_MS = 50;

export class LineBatch {
  /** The batch being filled; bytes before `used` are lines, the rest is free. */
  buffer = Buffer.allocUnsafeSlow(LOG_BATCH_BYTES);
  used = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly handOn: (lines: Buffer) => void) {}

  write(line: string): boolean {
    if (this.closed) return false;
    // A line longer than what is left (at most 3 bytes per UTF-16 unit) goes after the batch so far.
    if (line.length * 3 > LOG_BATCH_BYTES - this.used) {
      this.handOver();
      if (line.length * 3 > LOG_BATCH_BYTES) {
        this.handOn(Buffer.from(line));
        return true;
      }
    }
    this.commit(this.used + this.buffer.write(line, this.used));
    return true;
  }

  /**
   * Makes `bytes` (at most LOG_BATCH_BYTES) free from `used` on, for a line written straight into
   * `buffer`; false once closed (the line is dropped, as `write` drops it).
   */
  room(bytes: number): boolean {
    if (this.closed) return false;
    if (bytes > this.buffer.length - this.used) this.handOver();
    return true;
  }

  /** The bytes up to `end` are complete lines: they go out with this batch. */
  commit(end: number): void {
    this.used = end;
    if (this.timer === null) {
      this.timer = setTimeout(() => this.handOver(), LOG_FLUSH_MS);
      this.timer.unref();
    }
  }

  /** Hands what is gathered to the destination now; the next lines go to a new batch buffer. */
  handOver(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.used === 0) return;
    const lines = this.buffer.subarray(0, this.used);
    this.buffer = Buffer.allocUnsafeSlow(LOG_BATCH_BYTES);
    this.used = 0;
    this.handOn(lines);
  }

  /** Hands the rest on; later lines are not taken. */
  close(): void {
    this.handOver();
    this.closed = true;
  }
}
