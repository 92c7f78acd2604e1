/**
 * The CLI's real logger (the library itself never logs unless handed one): pino writing JSON
 * lines to stdout, or pino-pretty's human format on a terminal or when asked for.
 */
import { pino, type Logger as PinoLogger } from 'pino';
import pretty from 'pino-pretty';

export type LogFormat = 'auto' | 'json' | 'pretty';

export interface CliLogger {
  logger: PinoLogger;
  /** Writes out whatever is buffered; call before the process exits. */
  flush: () => void;
}

export function createCliLogger(level: string, format: LogFormat, isTerminal: boolean): CliLogger {
  const usePretty = format === 'pretty' || (format === 'auto' && isTerminal);
  if (usePretty) {
    const stream = pretty({ sync: true, colorize: isTerminal, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
    return { logger: pino({ level, base: null }, stream), flush: () => {} };
  }
  // Asynchronous writes coalesce under load (one write for many lines); flushed at exit.
  const destination = pino.destination({ dest: 1, sync: false });
  const logger = pino({ level }, destination);
  return {
    logger,
    flush: () => {
      try {
        destination.flushSync();
      } catch {
        // Nothing buffered, or stdout already gone: nothing left to save.
      }
    },
  };
}
