/**
 * The logger echod's library accepts: the subset of pino's interface it uses, so a pino
 * logger (or any object with these methods) can be passed in. The library logs nothing unless
 * given one.
 */

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

export interface LogFn {
  (obj: object, msg?: string): void;
  (msg: string): void;
}

export interface Logger {
  fatal: LogFn;
  error: LogFn;
  warn: LogFn;
  info: LogFn;
  debug: LogFn;
  trace: LogFn;
  isLevelEnabled(level: LogLevel): boolean;
}

const noop: LogFn = () => {};

/** The library's default: every call is a no-op and no level is enabled. */
export const silentLogger: Logger = {
  fatal: noop,
  error: noop,
  warn: noop,
  info: noop,
  debug: noop,
  trace: noop,
  isLevelEnabled: () => false,
};

/** At most this many bytes of a client's data go into one trace line. */
export const TRACE_DATA_MAX_BYTES = 1024;
