/**
 * The byte path's pure core: chunks in, slices out, no I/O.
 *
 * A framer is fed every chunk a connection receives and returns the bytes to echo for it.
 * Transports (TCP, TLS, Unix sockets) only move those bytes; every rule about what is echoed
 * and when lives here, so it can be tested exhaustively without a socket.
 */

const NEWLINE = 0x0a;
const EMPTY: Buffer = Buffer.alloc(0);

/** What every framer offers the transports. */
export interface Framer {
  /** Complete lines in the bytes returned by the last `push()` (0 in raw mode). */
  readonly lines: number;
  /** True once the input broke the framer's limit; `push()` returns nothing from then on. */
  readonly overflowed: boolean;
  /** Bytes received but not yet returned (a partial line). */
  readonly pendingBytes: number;
  /** Feeds one received chunk; returns the bytes to echo now (possibly empty, never null). */
  push(chunk: Buffer): Buffer;
  /** End of input: returns whatever is still pending (an unterminated last line) and forgets it. */
  flush(): Buffer;
}

/**
 * Line framing, the default mode: a line is the bytes up to and including `\n`, echoed
 * byte-exact (CR, NUL, invalid UTF-8 and all). Each `push()` returns every complete line it
 * finished as one buffer, so the transport makes one write per chunk, not one per line.
 *
 * Bound: a line may be at most `maxLineBytes` long, its newline included, so at most
 * `maxLineBytes - 1` bytes are ever held for an unfinished line. The first line to break that
 * sets `overflowed`; the complete lines before it are still returned.
 */
export class LineFramer implements Framer {
  readonly maxLineBytes: number;
  lines = 0;
  overflowed = false;
  pendingBytes = 0;
  /** Copies of the unfinished line's pieces, oldest first; null when nothing is pending. */
  private parts: Buffer[] | null = null;

  constructor(maxLineBytes: number) {
    this.maxLineBytes = maxLineBytes;
  }

  push(chunk: Buffer): Buffer {
    if (this.overflowed) {
      this.lines = 0;
      return EMPTY;
    }
    const max = this.maxLineBytes;
    let newline = chunk.indexOf(NEWLINE);
    if (newline === -1) {
      this.lines = 0;
      this.hold(chunk);
      return EMPTY;
    }
    if (this.pendingBytes + newline + 1 > max) return this.overflow();

    // Count the lines and check each one's length. indexOf runs in native code, far cheaper
    // per line than scanning bytes in JavaScript (docs/performance.md, Design notes).
    let lines = 1;
    let end = newline + 1;
    const length = chunk.length;
    while (end < length && (newline = chunk.indexOf(NEWLINE, end)) !== -1) {
      if (newline + 1 - end > max) {
        this.overflowed = true;
        break;
      }
      lines++;
      end = newline + 1;
    }
    this.lines = lines;

    let out: Buffer;
    const parts = this.parts;
    if (parts === null) {
      out = end === length ? chunk : chunk.subarray(0, end);
    } else {
      parts.push(chunk.subarray(0, end));
      out = Buffer.concat(parts, this.pendingBytes + end);
      this.parts = null;
      this.pendingBytes = 0;
    }
    if (!this.overflowed && end < length) this.hold(chunk.subarray(end));
    return out;
  }

  flush(): Buffer {
    this.lines = 0;
    const parts = this.parts;
    if (parts === null) return EMPTY;
    const tail = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, this.pendingBytes);
    this.parts = null;
    this.pendingBytes = 0;
    return tail;
  }

  /** Keeps an unfinished piece, copied so the (up to 64 KiB) read buffer it came in is not pinned. */
  private hold(piece: Buffer): void {
    if (piece.length === 0) return;
    if (this.pendingBytes + piece.length >= this.maxLineBytes) {
      // Even its newline would not fit: the line is too long already.
      this.overflowed = true;
      this.parts = null;
      this.pendingBytes = 0;
      return;
    }
    const copy = Buffer.allocUnsafe(piece.length);
    piece.copy(copy);
    if (this.parts === null) this.parts = [copy];
    else this.parts.push(copy);
    this.pendingBytes += piece.length;
  }

  private overflow(): Buffer {
    this.overflowed = true;
    this.lines = 0;
    this.parts = null;
    this.pendingBytes = 0;
    return EMPTY;
  }
}

/**
 * Line framers for one server's connections. A framer with nothing pending is the same for every
 * connection, so one idle framer serves all of them; a connection takes a framer of its own only
 * when a chunk leaves part of a line in it (or breaks the limit), and keeps it from then on. A
 * held connection with no partial line then costs no framer at all, and the byte path of many
 * connections reads one framer that stays in the cache rather than one per connection.
 *
 * Sound because a push is synchronous: the caller checks right after each `push()` on `idle`
 * whether it must `take()` it, before anything else can use it. A connection never keeps a
 * reference to `idle` (another connection may take it): it reads `idle` at each push.
 */
export class SharedLineFramers {
  readonly maxLineBytes: number;
  /** The framer every connection with nothing pending pushes into. */
  idle: LineFramer;

  constructor(maxLineBytes: number) {
    this.maxLineBytes = maxLineBytes;
    this.idle = new LineFramer(maxLineBytes);
  }

  /** True when the last push into `idle` left it holding its connection's state: that connection must `take()` it now. */
  mustTake(): boolean {
    const idle = this.idle;
    return idle.pendingBytes !== 0 || idle.overflowed;
  }

  /** Hands the idle framer (and the partial line in it) to the connection that pushed; a fresh one is idle from now on. */
  take(): LineFramer {
    const taken = this.idle;
    this.idle = new LineFramer(this.maxLineBytes);
    return taken;
  }
}

/** Raw mode (RFC 862): every byte is echoed as it arrives; there are no lines and no limit. */
export class RawFramer implements Framer {
  readonly lines = 0;
  readonly overflowed = false;
  readonly pendingBytes = 0;

  push(chunk: Buffer): Buffer {
    return chunk;
  }

  flush(): Buffer {
    return EMPTY;
  }
}

/**
 * `--prefix`: the echo of complete lines with `prefix` before each one. Pure; used only when a
 * prefix is configured (it copies every byte, which the plain echo never does).
 */
export function prefixLines(lines: Buffer, prefix: Buffer): Buffer {
  if (lines.length === 0) return lines;
  const parts: Buffer[] = [];
  let start = 0;
  for (let nl = lines.indexOf(NEWLINE); nl !== -1; nl = lines.indexOf(NEWLINE, start)) {
    parts.push(prefix, lines.subarray(start, nl + 1));
    start = nl + 1;
  }
  // Raw mode, or an unterminated tail at close: prefixed as one piece.
  if (start < lines.length) parts.push(prefix, lines.subarray(start));
  return Buffer.concat(parts);
}
