// A helper process of ours that is not echod (haproxy, socat, Prometheus): its stdout and
// stderr kept as one text, a wait for a pattern in it that fails early if the process exits,
// and a stop by its handle (SIGTERM, then SIGKILL). Every wait is bounded, and a process
// still running when ours exits is killed.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { killOnExit } from './children.js';
import { WAIT_MS } from './clients.js';
import { Waiters } from './wait.js';

export class OutputProcess {
  readonly name: string;
  readonly child: ChildProcessWithoutNullStreams;
  /** stdout and stderr, interleaved as they arrived. */
  output = '';
  exited = false;
  private readonly waiters = new Waiters();

  constructor(name: string, command: string, args: readonly string[], options: { cwd?: string } = {}) {
    this.name = name;
    this.child = spawn(command, args, { stdio: 'pipe', ...(options.cwd !== undefined ? { cwd: options.cwd } : {}) });
    killOnExit(this.child);
    const collect = (chunk: Buffer): void => {
      this.output += chunk.toString();
      this.waiters.notify();
    };
    this.child.stdout.on('data', collect);
    this.child.stderr.on('data', collect);
    // A spawn that fails (the command is missing) emits 'error' and may never emit 'close'.
    this.child.on('error', (err) => {
      this.output += `spawn: ${err.message}\n`;
      this.exited = true;
      this.waiters.notify();
    });
    this.child.on('close', () => {
      this.exited = true;
      this.waiters.notify();
    });
  }

  /** The first match of `pattern` in the output, once it appears; fails early if the process exits. */
  async match(pattern: RegExp, what: string, ms = WAIT_MS): Promise<RegExpExecArray> {
    await this.waiters.until(
      () => {
        if (pattern.test(this.output)) return true;
        if (this.exited) throw new Error(`${this.name} exited before ${what}: ${this.output}`);
        return false;
      },
      ms,
      `${this.name}: ${what}`,
    );
    return pattern.exec(this.output) as RegExpExecArray;
  }

  /** SIGTERM to our PID, SIGKILL if it is still there after WAIT_MS; resolves once it is gone. Safe to repeat. */
  async stop(): Promise<void> {
    if (this.exited) return;
    this.child.kill('SIGTERM');
    try {
      await this.waiters.until(() => this.exited, WAIT_MS, `${this.name} to exit on SIGTERM`);
    } catch {
      this.child.kill('SIGKILL');
      await this.waiters.until(() => this.exited, WAIT_MS, `${this.name} to exit on SIGKILL`);
    }
  }
}
