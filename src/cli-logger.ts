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
}

/** A stdout nobody reads must not hold the exit back for long. */
const LOG_CLOSE_TIMEOUT_MS = 2000;

export function createCliLogger(level: string, format: LogFormat, isTerminal: boolean): CliLogger {
  const usePretty = format === 'pretty' || (format === 'auto' && isTerminal);
  if (usePretty) {
    const stream = pretty({ sync: true, colorize: isTerminal, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
    return { logger: pino({ level, base: null }, stream), close: () => Promise.resolve(), flushSync: () => {} };
  }
  // Asynchronous writes coalesce under load (one write for many lines).
  const destination = pino.destination({ dest: 1, sync: false });
  const logger = pino({ level }, destination);
  return {
    logger,
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
