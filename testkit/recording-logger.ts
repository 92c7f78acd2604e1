// A pino-compatible logger that records every call, for tests that assert what the library
// logs (a connection's `connection closed` line, a refusal's `detail`). Info and above are
// enabled, debug and trace are not, as with the CLI's default level; waits are bounded.
import type { Logger, LogLevel } from '../src/core/log.js';
import { WAIT_MS } from './clients.js';
import { Waiters } from './wait.js';

export interface LogRecord {
  level: LogLevel;
  msg: string;
  fields: Record<string, unknown>;
}

const ENABLED: ReadonlySet<LogLevel> = new Set(['fatal', 'error', 'warn', 'info']);

export class RecordingLogger implements Logger {
  readonly records: LogRecord[] = [];
  private readonly waiters = new Waiters();
  readonly fatal = this.at('fatal');
  readonly error = this.at('error');
  readonly warn = this.at('warn');
  readonly info = this.at('info');
  readonly debug = this.at('debug');
  readonly trace = this.at('trace');

  isLevelEnabled(level: LogLevel): boolean {
    return ENABLED.has(level);
  }

  /** The records with this message. */
  all(msg: string): LogRecord[] {
    return this.records.filter((record) => record.msg === msg);
  }

  /** The first record (logged already or still to come) with this message that `match` accepts. */
  async next(msg: string, match: (fields: Record<string, unknown>) => boolean = () => true, ms = WAIT_MS): Promise<LogRecord> {
    const find = (): LogRecord | undefined => this.records.find((record) => record.msg === msg && match(record.fields));
    await this.waiters.until(() => find() !== undefined, ms, `a ${JSON.stringify(msg)} log line`);
    return find() as LogRecord;
  }

  private at(level: LogLevel): Logger['info'] {
    return (first: object | string, msg?: string): void => {
      const record: LogRecord =
        typeof first === 'string'
          ? { level, msg: first, fields: {} }
          : { level, msg: msg ?? '', fields: { ...(first as Record<string, unknown>) } };
      this.records.push(record);
      this.waiters.notify();
    };
  }
}
