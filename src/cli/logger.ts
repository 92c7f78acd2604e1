/**
 * The CLI's real logger (the library itself never logs unless handed one): pino writing JSON
 * lines to stdout, or on a terminal (or when asked for) one compact line per event,
 * `time LEVEL msg key=value …`, as a person scanning a log expects.
 */
import { once } from 'node:events';
import { pino } from 'pino';
import pretty from 'pino-pretty';
import { type CliLog, createJsonLogger } from './json-lines.js';
import { LineBatch } from './line-batch.js';

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
/** pino's levels, most severe first, and `silent`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export interface CliLogger {
  logger: CliLog;
  /** True when lines are for a person (compact text), false for JSON lines. */
  pretty: boolean;
  /** Writes out whatever is buffered, in order, and closes the stream; call last before exiting. */
  close: () => Promise<void>;
  /** Best effort for an immediate exit: writes the buffer synchronously. */
  flushSync: () => void;
  /** Log lines dropped because stdout did not take them (`LOG_BUFFER_MAX_BYTES` were waiting). */
  readonly dropped: number;
}

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
  // Lines are gathered in a batch (line-batch.ts) and written together: a write per line is a
  // large share of the work on short connections (docs/performance.md). Bounded: if stdout stops
  // taking lines, at most LOG_BUFFER_MAX_BYTES wait and later lines are dropped, never the
  // server's memory. The plain calls (a connection's open and close lines) are encoded straight
  // into the batch, pino's bytes without pino's work (json-lines.ts).
  const destination = pino.destination({ dest: 1, sync: false, contentMode: 'buffer', maxLength: LOG_BUFFER_MAX_BYTES });
  const batch = new LineBatch((lines) => destination.write(lines as unknown as string));
  const logger = createJsonLogger(level, batch);
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
