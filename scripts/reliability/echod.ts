// The echod under a scenario: the test kit's echod process (`node bin/echod.js` on 127.0.0.1,
// port 0, admin endpoint on port 0, JSON logs), with its log tallied as it comes (close
// reasons, rejection lines) so scenarios can check the log as well as the wire. Only the tally
// is kept, not every line: a scenario makes thousands of connections.
import { assertBuilt, EchodProcess, type LogLine, START_MS } from '../../testkit/echod-process.js';
import { HOST } from '../../testkit/clients.js';

/** Diagnostics kept from log lines nothing else tallies. */
const KEEP_OTHER_LINES = 200;
/** pino's numeric level for error. */
const LEVEL_ERROR = 50;

/** One `connection closed` log line, as echod wrote it. */
export interface CloseRecord {
  connId: number;
  remotePort: number;
  reason: string;
  forced: boolean;
  errorCode: string | null;
  bytesIn: number;
  bytesOut: number;
  lines: number;
  /** An unterminated tail dropped at a close echod started (absent from the line when 0). */
  discardedTailBytes: number;
  durationMs: number;
}

/** The running tally of echod's log. */
export class LogBook {
  readonly closes: CloseRecord[] = [];
  readonly closeByRemotePort = new Map<number, CloseRecord>();
  readonly closeReasons = new Map<string, number>();
  /** `connection rejected` lines, and the rejections they account for (1 each, or their `count`). */
  rejectLines = 0;
  rejectionsLogged = 0;
  /** Lines at error level or above (a `reason: error` close is a warning, not counted here). */
  errorLines = 0;
  /** The lines not tallied above (listening, shutdown, errors), newest last, bounded. */
  readonly other: LogLine[] = [];

  /** Tallies one line of the log. */
  add(line: LogLine): void {
    const msg = typeof line.msg === 'string' ? line.msg : '';
    if (line.level >= LEVEL_ERROR) this.errorLines++;
    if (msg === 'connection closed') this.addClose(line);
    else if (msg.startsWith('connection rejected')) {
      this.rejectLines++;
      this.rejectionsLogged += typeof line.count === 'number' ? line.count : 1;
    } else if (msg !== 'connection opened') {
      this.other.push(line);
      if (this.other.length > KEEP_OTHER_LINES) this.other.shift();
    }
  }

  reason(reason: string): number {
    return this.closeReasons.get(reason) ?? 0;
  }

  /** The first kept line with this `msg`, if any. */
  find(msg: string): LogLine | undefined {
    return this.other.find((line) => line.msg === msg);
  }

  private addClose(line: LogLine): void {
    const record: CloseRecord = {
      connId: num(line.connId),
      remotePort: num(line.remotePort),
      reason: typeof line.reason === 'string' ? line.reason : '?',
      forced: line.forced === true,
      errorCode: typeof line.errorCode === 'string' ? line.errorCode : null,
      bytesIn: num(line.bytesIn),
      bytesOut: num(line.bytesOut),
      lines: num(line.lines),
      discardedTailBytes: line.discardedTailBytes === undefined ? 0 : num(line.discardedTailBytes),
      durationMs: num(line.durationMs),
    };
    this.closes.push(record);
    this.closeByRemotePort.set(record.remotePort, record);
    this.closeReasons.set(record.reason, (this.closeReasons.get(record.reason) ?? 0) + 1);
  }
}

function num(value: unknown): number {
  return typeof value === 'number' ? value : Number.NaN;
}

/** An echod for a scenario: the kit's process, its log tallied in `book` instead of kept. */
export class ScenarioEchod extends EchodProcess {
  readonly book: LogBook;

  private constructor(args: readonly string[]) {
    const book = new LogBook();
    super('node', args, {}, { keepLogs: false, onLine: (line) => book.add(line) });
    this.book = book;
  }

  /**
   * Starts echod with `flags` on top of `--host 127.0.0.1 --port 0 --admin-port 0
   * --log-format json`, and resolves once it has logged both of its listening lines.
   */
  static async start(flags: readonly string[] = []): Promise<ScenarioEchod> {
    assertBuilt();
    const echod = new ScenarioEchod(['--host', HOST, '--port', '0', '--admin-port', '0', '--log-format', 'json', ...flags]);
    try {
      await echod.until(() => echod.port !== 0 && echod.adminPort !== 0, 'echod to log that it listens', START_MS);
    } catch (err) {
      echod.kill();
      throw err;
    }
    return echod;
  }
}
