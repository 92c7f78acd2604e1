/**
 * The CLI's real logger (the library itself never logs unless handed one): pino writing JSON
 * lines to stdout, or on a terminal (or when asked for) one compact line per event,
 * `time LEVEL msg key=value …`, as a person scanning a log expects.
 */
import { once } from 'node:events';
import { pino, type Logger as PinoLogger } from 'pino';
import pretty from 'pino-pretty';

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
/** pino's levels, most severe first, and `silent`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export interface CliLogger {
  logger: PinoLogger;
  /** True when lines are for a person (compact text), false for JSON lines. */
  pretty: boolean;
  /** Writes out whatever is buffered, in order, and closes the stream; call last before exiting. */
  close: () => Promise<void>;
  /** Best effort for an immediate exit: writes the buffer synchronously. */
  flushSync: () => void;
  /** Log lines dropped because stdout did not take them (`LOG_BUFFER_MAX_BYTES` were waiting). */
  readonly dropped: number;
}

/** Log lines are written once this much is waiting... */
const LOG_BATCH_BYTES = 64 * 1024;
/** ...or after this long, whichever comes first. */
const LOG_FLUSH_MS = 50;
/** What may wait for a stdout that does not take it; beyond this, lines are dropped. */
export const LOG_BUFFER_MAX_BYTES = 16 * 1024 * 1024;

/** A stdout nobody reads must not hold the exit back for long. */
const LOG_CLOSE_TIMEOUT_MS = 2000;

export function createCliLogger(level: string, format: LogFormat, isTerminal: boolean): CliLogger {
  const usePretty = format === 'pretty' || (format === 'auto' && isTerminal);
  if (usePretty) {
    const stream = pretty({
      sync: true,
      colorize: isTerminal,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
      hideObject: true,
      messageFormat: compactLine,
    });
    return { logger: pino({ level, base: null }, stream), pretty: true, close: () => Promise.resolve(), flushSync: () => {}, dropped: 0 };
  }
  // Lines are gathered up to LOG_BATCH_BYTES, or for at most LOG_FLUSH_MS, and written together:
  // a write per line is a large share of the work on short connections (docs/performance.md).
  // Bounded: if stdout stops taking lines, at most LOG_BUFFER_MAX_BYTES wait and later lines
  // are dropped, never the server's memory.
  const destination = pino.destination({ dest: 1, sync: false, contentMode: 'buffer', maxLength: LOG_BUFFER_MAX_BYTES });
  const batch = new LineBatch((lines) => destination.write(lines as unknown as string));
  const logger = pino({ level }, batch);
  let dropped = 0;
  destination.on('drop', (lines: Buffer) => {
    dropped += countLines(lines);
  });
  const flushSync = (): void => {
    batch.handOver();
    try {
      destination.flushSync();
    } catch {
      // A write is in flight or stdout is gone: nothing more can be saved synchronously.
    }
  };
  // pino writes its destination out at exit; the lines still gathered here go with them.
  process.once('exit', flushSync);
  return {
    logger,
    pretty: false,
    get dropped() {
      return dropped;
    },
    close: async () => {
      batch.close();
      process.removeListener('exit', flushSync);
      const closed = once(destination, 'close');
      destination.end();
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, LOG_CLOSE_TIMEOUT_MS).unref())]);
    },
    flushSync,
  };
}

/**
 * Where pino's lines go first: each is encoded at once into a batch buffer outside the JS heap,
 * which goes to the destination (sonic-boom, in buffer mode) when full or LOG_FLUSH_MS after its
 * first line. So a line's string dies young: the garbage collector never copies or promotes
 * lines waiting for a write, and sonic-boom never re-measures a growing string (figures:
 * docs/performance.md). At most one batch waits here; the bound on what waits for stdout is the
 * destination's.
 */
class LineBatch {
  private buffer = Buffer.allocUnsafeSlow(LOG_BATCH_BYTES);
  private used = 0;
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
    this.used += this.buffer.write(line, this.used);
    if (this.timer === null) {
      this.timer = setTimeout(() => this.handOver(), LOG_FLUSH_MS);
      this.timer.unref();
    }
    return true;
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

function countLines(lines: Buffer): number {
  let count = 0;
  for (let nl = lines.indexOf(0x0a); nl !== -1; nl = lines.indexOf(0x0a, nl + 1)) count++;
  return count;
}

/** Fields pino-pretty shows itself, or that say nothing on a terminal. */
const SHOWN_ELSEWHERE: ReadonlySet<string> = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'serverId']);
/** Shown first, in this order, right after the message: what the line is about. */
const LEADING = ['listener', 'connId', 'remote', 'worker'];

/**
 * `msg key=value key=value`: every field on the message's line (pino-pretty would print each
 * on a line of its own, ~20 lines per connection). Nested values are compact JSON; an error
 * shows its message and code, not its stack.
 */
function compactLine(log: Record<string, unknown>, messageKey: string): string {
  const keys = Object.keys(log).filter((key) => key !== messageKey && !SHOWN_ELSEWHERE.has(key));
  const ordered = [...LEADING.filter((key) => keys.includes(key)), ...keys.filter((key) => !LEADING.includes(key))];
  const fields = ordered.map((key) => `${key}=${compactValue(log[key])}`);
  const message = log[messageKey];
  return [typeof message === 'string' ? message : JSON.stringify(message ?? ''), ...fields].join(' ');
}

function compactValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'object' && value !== null && 'message' in value && ('stack' in value || 'type' in value)) {
    const err = value as { message: unknown; code?: unknown };
    const text = typeof err.message === 'string' ? err.message : JSON.stringify(err.message);
    return JSON.stringify(typeof err.code === 'string' ? `${err.code}: ${text}` : text);
  }
  return JSON.stringify(value) ?? String(value);
}
