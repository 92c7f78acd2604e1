// The echod under test, as a child process: `node bin/echod.js` on 127.0.0.1, port 0, with
// its admin endpoint on port 0 and JSON logs on stdout, which are read as they come and
// tallied (close reasons, rejection lines) so scenarios can check the log as well as the wire.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { track } from './children.js';
import { Waiters, within } from './wait.js';

export const HOST = '127.0.0.1';
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/echod.js', import.meta.url));
const BUILT_CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/** How long echod gets to log that it listens. */
const START_TIMEOUT_MS = 10_000;
/** Diagnostics kept from stderr and from log lines nothing else tallies. */
const KEEP_STDERR_BYTES = 16 * 1024;
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

export interface LogLine {
  msg: string;
  level: number;
  [field: string]: unknown;
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
  private readonly waiters = new Waiters();

  /** Tallies one line of the log; returns it parsed (null if it is not JSON). */
  add(text: string): LogLine | null {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      return null;
    }
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
    this.waiters.notify();
    return line;
  }

  reason(reason: string): number {
    return this.closeReasons.get(reason) ?? 0;
  }

  /** The first kept line with this `msg`, if any. */
  find(msg: string): LogLine | undefined {
    return this.other.find((line) => line.msg === msg);
  }

  until(condition: () => boolean, ms: number, what: string): Promise<void> {
    return this.waiters.until(condition, ms, what);
  }

  /** Wakes waiters for conditions that also depend on something else (the process exiting). */
  poke(): void {
    this.waiters.notify();
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

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class EchodProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly args: readonly string[];
  readonly log = new LogBook();
  port = 0;
  adminPort = 0;
  exit: Exit | null = null;
  readonly exited: Promise<Exit>;
  private stderrText = '';

  private constructor(args: readonly string[]) {
    this.args = args;
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('ECHOD_')));
    this.child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    if (this.child.pid === undefined) throw new Error('could not spawn echod');
    this.pid = this.child.pid;
    track(this.child);
    this.exited = new Promise<Exit>((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        this.log.poke();
        resolve(this.exit);
      });
    });
    this.child.once('error', () => this.log.poke());
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream, crlfDelay: Infinity }).on('line', (line) => this.onLine(line));
    (this.child.stderr as NodeJS.ReadableStream).on('data', (chunk: Buffer) => {
      if (this.stderrText.length < KEEP_STDERR_BYTES) this.stderrText += chunk.toString('utf8');
    });
  }

  /**
   * Starts echod with `flags` on top of `--host 127.0.0.1 --port 0 --admin-port 0
   * --log-format json`, and resolves once it has logged both of its listening lines.
   */
  static async start(flags: readonly string[] = []): Promise<EchodProcess> {
    assertBuilt();
    const echod = new EchodProcess(['--host', HOST, '--port', '0', '--admin-port', '0', '--log-format', 'json', ...flags]);
    try {
      await echod.log.until(() => (echod.port !== 0 && echod.adminPort !== 0) || echod.exit !== null, START_TIMEOUT_MS, 'echod to log that it listens');
      if (echod.exit !== null) throw new Error(`echod exited (${describeExit(echod.exit)}) before listening: ${echod.stderr.trim()}`);
    } catch (err) {
      echod.kill();
      throw err;
    }
    return echod;
  }

  get running(): boolean {
    return this.exit === null;
  }

  get stderr(): string {
    return this.stderrText;
  }

  /** Sends `signal` (SIGTERM by default) and waits up to `ms` for the exit; SIGKILL after that. */
  async terminate(ms = 20_000, signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit & { killed: boolean }> {
    if (this.exit === null) this.child.kill(signal);
    try {
      return { ...(await within(this.exited, ms, `echod (pid ${this.pid}) to exit after ${signal}`)), killed: false };
    } catch {
      this.kill();
      return { ...(await this.exited), killed: true };
    }
  }

  /** SIGKILL, if it is still running (cleanup after a failure). */
  kill(): void {
    if (this.exit === null) this.child.kill('SIGKILL');
  }

  private onLine(text: string): void {
    const line = this.log.add(text);
    if (line === null || typeof line.port !== 'number') return;
    if (line.msg === 'listening' && this.port === 0) this.port = line.port;
    else if (line.msg === 'admin endpoint listening' && this.adminPort === 0) this.adminPort = line.port;
    this.log.poke();
  }
}

export function describeExit(exit: Exit): string {
  return exit.signal !== null ? `signal ${exit.signal}` : `code ${exit.code}`;
}

/** bin/echod.js runs dist/: refuse to measure a build that is missing, warn about a stale one. */
function assertBuilt(): void {
  if (!existsSync(BUILT_CLI)) throw new Error(`${BUILT_CLI} is missing: run \`npm run build\` first`);
  const built = statSync(BUILT_CLI).mtimeMs;
  const newer = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.ts') && statSync(`${SRC}${name}`).mtimeMs > built);
  if (newer.length > 0 && !staleWarned) {
    staleWarned = true;
    process.stderr.write(`\nwarning: src/${newer.join(', src/')} changed after the last build; measuring dist/ as built (run \`npm run build\`)\n`);
  }
}
let staleWarned = false;
