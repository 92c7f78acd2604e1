// Bystanders: well-behaved clients that ping-pong lines with echod while a scenario attacks
// it, and time every round trip. They run in a child process of their own so that what they
// measure is echod's latency, not the attacker's busy event loop (the attack and the
// bystanders would otherwise share one). The parent asks for a "window" of figures at a time:
// e.g. one before the attack (baseline) and one during it.
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { killOnExit } from '../../testkit/children.js';
import { ROOT } from '../../testkit/echod-process.js';
import type { LatencySummary } from './latency.js';
import { within } from '../../testkit/wait.js';

export interface BystanderConfig {
  port: number;
  /** Where the bystanders connect from and to: 127.0.0.1, or ::1 to stay apart from attackers' per-IP counts. @default 127.0.0.1 */
  host: string;
  /** Connections, each with one line in flight at a time. @default 20 */
  clients: number;
  /** Pause between a client's echo and its next line. @default 20 */
  intervalMs: number;
  /** Bytes per line, newline included. @default 64 */
  lineBytes: number;
  /** A round trip longer than this is an error (the bystander was not served). @default 5000 */
  timeoutMs: number;
}

/** What the bystanders saw over one window. */
export interface BystanderWindow {
  latency: LatencySummary;
  /** Round trips completed and verified byte-exact. */
  echoes: number;
  /** Wrong echoes, timeouts and lost connections. */
  errors: number;
  /** The first few error messages. */
  errorSamples: string[];
}

export type ToChild = { type: 'window'; id: number } | { type: 'stop'; id: number };
export type FromChild = { type: 'ready' } | { type: 'window'; id: number; window: BystanderWindow } | { type: 'fatal'; message: string };

const CHILD = fileURLToPath(new URL('./bystander-child.ts', import.meta.url));
const START_TIMEOUT_MS = 15_000;
const REPLY_TIMEOUT_MS = 15_000;

export class Bystanders {
  readonly config: BystanderConfig;
  private readonly child: ChildProcess;
  private readonly replies = new Map<number, (window: BystanderWindow) => void>();
  private nextId = 1;
  private fatal: string | null = null;
  private readonly exited: Promise<void>;

  private constructor(config: BystanderConfig) {
    this.config = config;
    // The child is TypeScript too: run it through the same loader as this process.
    const execArgv = process.execArgv.some((arg) => arg.includes('tsx')) ? process.execArgv : [...process.execArgv, '--import', 'tsx'];
    this.child = fork(CHILD, [JSON.stringify(config)], { cwd: ROOT, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    killOnExit(this.child);
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
  }

  /** Starts the pool and resolves once every bystander is connected and has had one echo. */
  static async start(port: number, options: Partial<Omit<BystanderConfig, 'port'>> = {}): Promise<Bystanders> {
    const pool = new Bystanders({ port, host: '127.0.0.1', clients: 20, intervalMs: 20, lineBytes: 64, timeoutMs: 5000, ...options });
    const ready = new Promise<void>((resolve, reject) => {
      pool.child.on('message', (message: FromChild) => {
        if (message.type === 'ready') resolve();
        else if (message.type === 'fatal') {
          pool.fatal = message.message;
          reject(new Error(`bystanders failed: ${message.message}`));
        } else pool.replies.get(message.id)?.(message.window);
      });
      pool.child.once('exit', (code) => reject(new Error(`bystander process exited (code ${code}) ${pool.fatal ?? ''}`)));
    });
    try {
      await within(ready, START_TIMEOUT_MS, 'the bystanders to connect');
    } catch (err) {
      pool.kill();
      throw err;
    }
    return pool;
  }

  /** The figures since the previous window (or the start), and a new window begins. */
  window(): Promise<BystanderWindow> {
    return this.request('window');
  }

  /** Stops the pool (each bystander closes gracefully) and returns the last window. */
  async stop(): Promise<BystanderWindow> {
    const last = await this.request('stop');
    try {
      await within(this.exited, REPLY_TIMEOUT_MS, 'the bystander process to exit');
    } catch {
      this.kill();
    }
    return last;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  private request(type: ToChild['type']): Promise<BystanderWindow> {
    const id = this.nextId++;
    const reply = new Promise<BystanderWindow>((resolve) => this.replies.set(id, resolve));
    this.child.send({ type, id } satisfies ToChild);
    return within(reply, REPLY_TIMEOUT_MS, `the bystanders' ${type} answer`).finally(() => this.replies.delete(id));
  }
}
