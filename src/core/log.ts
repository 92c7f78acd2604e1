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

/**
 * Client bytes made safe for a log line: printable ASCII stays, `\` becomes `\\`, and every
 * other byte (controls, newlines, bytes ≥ 0x7f) becomes `\xNN`, so no client can inject a line
 * or a terminal escape into the log. Longer input is cut at `max` bytes and marked with `…`.
 */
export function escapeBytes(data: Uint8Array, max = TRACE_DATA_MAX_BYTES): string {
  const end = Math.min(data.length, max);
  let out = '';
  for (let i = 0; i < end; i++) {
    const byte = data[i] as number;
    if (byte === 0x5c) out += '\\\\';
    else if (byte >= 0x20 && byte < 0x7f) out += String.fromCharCode(byte);
    else out += `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return end < data.length ? `${out}…` : out;
}
