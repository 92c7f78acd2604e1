/**
 * The CLI's real logger (the library itself never logs unless handed one): pino writing JSON
 * lines to stdout, or pino-pretty's human format on a terminal or when asked for.
 */
import { once } from 'node:events';
import { pino, type Logger as PinoLogger } from 'pino';
import pretty from 'pino-pretty';

export type LogFormat = 'auto' | 'json' | 'pretty';

export interface CliLogger {
  logger: PinoLogger;
  /** Writes out whatever is buffered, in order, and closes the stream; call last before exiting. */
  close: () => Promise<void>;
  /** Best effort for an immediate exit: writes the buffer synchronously. */
  flushSync: () => void;
  /** Log lines dropped because stdout did not take them (`LOG_BUFFER_MAX_BYTES` were waiting). */
  readonly dropped: number;
}

/** Log lines are written once this much is waiting... */
export const LOG_BATCH_BYTES = 4096;
/** ...or after this long, whichever comes first. */
export const LOG_FLUSH_MS = 50;
/** What may wait for a stdout that does not take it; beyond this, lines are dropped. */
export const LOG_BUFFER_MAX_BYTES = 16 * 1024 * 1024;

/** A stdout nobody reads must not hold the exit back for long. */
const LOG_CLOSE_TIMEOUT_MS = 2000;

export function createCliLogger(level: string, format: LogFormat, isTerminal: boolean): CliLogger {
  const usePretty = format === 'pretty' || (format === 'auto' && isTerminal);
  if (usePretty) {
    const stream = pretty({ sync: true, colorize: isTerminal, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
    return { logger: pino({ level, base: null }, stream), close: () => Promise.resolve(), flushSync: () => {}, dropped: 0 };
  }
  // Lines are gathered up to LOG_BATCH_BYTES, or for at most LOG_FLUSH_MS, and written together:
  // one asynchronous write per line cost ~17% of the server's busy time on churn (two lines per
  // connection, 8,000 connections a second). Bounded: if stdout stops taking lines, at most
  // LOG_BUFFER_MAX_BYTES wait and later lines are dropped, never the server's memory.
  const destination = pino.destination({ dest: 1, sync: false, minLength: LOG_BATCH_BYTES, periodicFlush: LOG_FLUSH_MS, maxLength: LOG_BUFFER_MAX_BYTES });
  const logger = pino({ level }, destination);
  let dropped = 0;
  destination.on('drop', () => {
    dropped++;
  });
  return {
    logger,
    get dropped() {
      return dropped;
    },
    close: async () => {
      const closed = once(destination, 'close');
      destination.end();
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, LOG_CLOSE_TIMEOUT_MS).unref())]);
    },
    flushSync: () => {
      try {
        destination.flushSync();
      } catch {
        // A write is in flight or stdout is gone: nothing more can be saved synchronously.
      }
    },
  };
}
