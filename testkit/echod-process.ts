// The built `echod` binary as a child process, under Node or under Bun, for the end-to-end
// suites, the reliability scenarios and the soak: its JSON log read line by line from stdout
// (a pipe, so pino writes JSON), its ports learned from its `listening` lines, waits on log
// lines and on its exit, a graceful `terminate()`, and a cleanup that kills it — and, with
// --workers, every worker process it forked, by the PIDs the workers logged. Every wait is
// bounded, and a process still running when ours exits is killed (see children.ts).
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from './admin-http.js';
import { type Client, HOST, WAIT_MS } from './clients.js';
import type { Sample, Scrape } from './prometheus.js';
import { killOnExit } from './children.js';
import { poll, Waiters } from './wait.js';

export type Runtime = 'node' | 'bun';

/** Every runtime echod must serve the same way. */
export const RUNTIMES: readonly Runtime[] = ['node', 'bun'];

/** The repository's root, with a trailing slash. */
export const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BIN = fileURLToPath(new URL('../bin/echod.js', import.meta.url));
const BUILT_CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const SRC = fileURLToPath(new URL('../src/', import.meta.url));
/** The Bun dev dependency's binary (CI installs it with `npm ci`). */
const BUN = fileURLToPath(new URL('../node_modules/.bin/bun', import.meta.url));

/** Startup loads the runtime, pino and prom-client: slower than any loopback wait. */
export const START_MS = 10_000;

/** Log lines a failed test shows of each echod it ran. */
const SUMMARY_LINES = 15;
/** stderr kept per process: plenty for any error, bounded for hour-long soaks. */
const KEEP_STDERR_CHARS = 1024 * 1024;
/** How long `terminate()` waits for a graceful exit before it kills. */
const TERMINATE_MS = 20_000;

/** pino's numeric levels. */
export const LEVEL = { info: 30, warn: 40, error: 50 } as const;

/** The executable that runs `bin/echod.js` under `runtime`. A missing Bun fails loudly: it is never skipped. */
export function runtimeExecutable(runtime: Runtime): string {
  if (runtime === 'node') return process.execPath;
  assert.ok(existsSync(BUN), `bun is not installed at ${BUN}; run \`npm ci\` (the Bun suite is not optional)`);
  return BUN;
}

export interface LogLine {
  level: number;
  msg: string;
  pid: number;
  [field: string]: unknown;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export function describeExit(exit: Exit): string {
  return exit.signal !== null ? `signal ${exit.signal}` : `code ${exit.code}`;
}

export interface EchodProcessOptions {
  /**
   * Keep every parsed log line in `logs` (what `log()`, `line()` and `all()` search). A long
   * run (the soak, a scenario with thousands of connections) passes false and tallies what it
   * needs in `onLine`. @default true
   */
  keepLogs?: boolean;
  /** Sees every parsed log line as it arrives, before waiters are woken. */
  onLine?: (line: LogLine) => void;
  /**
   * Run this command line instead of `<runtime> bin/echod.js args`, in `cwd`, with exactly
   * `env` (the container image's ENTRYPOINT and CMD, its HEALTHCHECK).
   */
  command?: { argv: readonly string[]; cwd: string; env: Record<string, string> };
}

/** The test process's environment without anything that would change echod's behaviour. */
export function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (
      value === undefined ||
      key.startsWith('ECHOD_') ||
      key.startsWith('LISTEN_') ||
      key === 'NODE_OPTIONS' ||
      key.startsWith('NODE_TEST') ||
      key.startsWith('BUN_')
    )
      continue;
    env[key] = value;
  }
  return env;
}

/** True while `pid` is a live process (a zombie, dead but not yet reaped, counts as gone). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // Field 3 of /proc/PID/stat is the state; the command name before it may hold spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc here: kill(0) said it exists
  }
}

/** True when `pid` runs echod (guards a cleanup kill against a PID the system reused). */
function runsEchod(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('echod');
  } catch {
    return existsSync('/proc/self') ? false : alive(pid);
  }
}

/** One echod process of ours (and, with --workers, its workers), its log parsed as it arrives. */
export class EchodProcess {
  readonly runtime: Runtime;
  readonly args: readonly string[];
  readonly child: ChildProcessWithoutNullStreams;
  readonly logs: LogLine[] = [];
  /** stdout lines that were not JSON (there should be none when stdout is a pipe). */
  readonly unparsed: string[] = [];
  /** stdout as text (pretty logs, --help), kept with the logs. */
  stdout = '';
  stderr = '';
  /** Set once the process has exited and every holder of its stdout (workers too) has closed it. */
  exit: Exit | null = null;
  /** The echo port and the admin port, from the first `listening` and `admin endpoint listening` lines (0 until then). */
  port = 0;
  adminPort = 0;
  private readonly keepLogs: boolean;
  private readonly onLine: ((line: LogLine) => void) | undefined;
  private pending = '';
  private readonly workers = new Set<number>();
  private readonly waiters = new Waiters();

  constructor(runtime: Runtime, args: readonly string[], env: Record<string, string> = {}, options: EchodProcessOptions = {}) {
    this.runtime = runtime;
    this.args = args;
    this.keepLogs = options.keepLogs ?? true;
    this.onLine = options.onLine;
    const command = options.command;
    this.child =
      command === undefined
        ? spawn(runtimeExecutable(runtime), [BIN, ...args], { cwd: ROOT, env: { ...cleanEnv(), ...env } })
        : spawn(command.argv[0] as string, command.argv.slice(1), { cwd: command.cwd, env: command.env });
    killOnExit(this.child);
    this.child.stdout.on('data', (chunk: Buffer) => this.onStdout(chunk.toString('latin1')));
    this.child.stderr.on('data', (chunk: Buffer) => {
      if (this.stderr.length < KEEP_STDERR_CHARS) this.stderr += chunk.toString();
      this.waiters.notify();
    });
    // A spawn that fails emits 'error' and may never emit 'close'.
    this.child.on('error', (err) => {
      this.stderr += `spawn: ${err.message}\n`;
      this.exit ??= { code: null, signal: null };
      this.waiters.notify();
    });
    // 'close', not 'exit': by then stdout has ended, so every log line has been read.
    this.child.on('close', (code, signal) => {
      this.exit = { code, signal };
      this.waiters.notify();
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get running(): boolean {
    return this.exit === null;
  }

  /** The first log line (already seen or still to come) that `match` accepts. */
  async log(match: (line: LogLine) => boolean, what: string, ms = WAIT_MS): Promise<LogLine> {
    await this.until(() => this.logs.some(match), `echod to log ${what}`, ms);
    return this.logs.find(match) as LogLine;
  }

  /** The first log line with this `msg`. */
  line(msg: string, ms = WAIT_MS): Promise<LogLine> {
    return this.log((line) => line.msg === msg, JSON.stringify(msg), ms);
  }

  /** The echo port from the `listening` line, once logged (asserting it listens on HOST). */
  async listeningPort(ms = WAIT_MS): Promise<number> {
    const line = await this.line('listening', ms);
    assert.equal(line.address, HOST);
    return line.port as number;
  }

  /** Waits until stdout (read as text, e.g. in pretty mode) satisfies `match`. */
  async waitStdout(match: (text: string) => boolean, ms = WAIT_MS): Promise<void> {
    await this.waiters.until(() => match(this.stdout) || this.exit !== null, ms, 'echod to print');
    assert.ok(match(this.stdout), `echod exited (${JSON.stringify(this.exit)}); stdout: ${this.stdout}; stderr: ${this.stderr}`);
  }

  /** Waits for `condition` (re-checked on every log line); fails early if echod exits. */
  async until(condition: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
    await this.waiters.until(
      () => {
        if (condition()) return true;
        if (this.exit !== null) throw new Error(`echod exited (${JSON.stringify(this.exit)}) before ${what}; stderr: ${this.stderr}`);
        return false;
      },
      ms,
      what,
    );
  }

  /** The log lines with this `msg`. */
  all(msg: string): LogLine[] {
    return this.logs.filter((line) => line.msg === msg);
  }

  /** The `connection closed` line of the connection `client` made, once it is logged. */
  closeOf(client: Client, ms = WAIT_MS): Promise<LogLine> {
    const port = localPort(client);
    return this.log(
      (line) => line.msg === 'connection closed' && line.remotePort === port,
      `the close of the connection from port ${port}`,
      ms,
    );
  }

  /** The `connection opened` line of the connection `client` made, once it is logged. */
  openOf(client: Client, ms = WAIT_MS): Promise<LogLine> {
    const port = localPort(client);
    return this.log(
      (line) => line.msg === 'connection opened' && line.remotePort === port,
      `the open of the connection from port ${port}`,
      ms,
    );
  }

  /** Resolves once the process has exited and its stdout is closed by everyone (workers too). */
  async exited(ms = WAIT_MS): Promise<Exit> {
    await this.waiters.until(() => this.exit !== null, ms, 'echod to exit');
    return this.exit as Exit;
  }

  /** The exit code once it has exited; -1 for an exit by a signal. */
  async exitCode(ms = WAIT_MS): Promise<number> {
    return (await this.exited(ms)).code ?? -1;
  }

  /** What a failed test should show about this process: its exit, stderr and last log lines. */
  summary(lines = SUMMARY_LINES): string[] {
    const tail = this.logs.slice(-lines).map((line) => JSON.stringify(line));
    return [
      `echod (${this.runtime}, pid ${this.pid}) exit: ${JSON.stringify(this.exit)}; stderr: ${JSON.stringify(this.stderr.trim())}`,
      ...tail,
    ];
  }

  signal(signal: NodeJS.Signals): void {
    assert.ok(this.child.kill(signal), `${signal} delivered to echod`);
  }

  /** Sends `signal` (SIGTERM by default) and waits up to `ms` for the exit; SIGKILL after that. */
  async terminate(ms = TERMINATE_MS, signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit & { killed: boolean }> {
    if (this.exit === null) this.child.kill(signal);
    try {
      return { ...(await this.exited(ms)), killed: false };
    } catch {
      this.kill();
      return { ...(await this.exited(WAIT_MS)), killed: true };
    }
  }

  /** SIGKILL, if it is still running (cleanup after a failure); does not wait. */
  kill(): void {
    if (this.exit === null && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  /** Every PID a worker logged (a `worker` field), in the order first seen (kept with or without `keepLogs`). */
  workerPids(): number[] {
    return [...this.workers];
  }

  /**
   * Cleanup: kills this process (by its handle) if it still runs, then every worker PID it
   * logged that is still alive, and waits until all of them are gone. Safe to repeat.
   */
  async stop(): Promise<void> {
    // The primary first, so that it cannot fork a replacement for a worker killed here.
    if (this.exit === null && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    const workers = this.workerPids().filter((pid) => alive(pid) && runsEchod(pid));
    for (const pid of workers) process.kill(pid, 'SIGKILL');
    // No event reports the death of a process that is not our child: poll, with a deadline.
    await poll(() => workers.every((pid) => !alive(pid)), WAIT_MS, `workers ${workers.join(', ')} to die`);
    await this.exited(WAIT_MS);
  }

  private onStdout(text: string): void {
    if (this.keepLogs) this.stdout += text;
    this.pending += text;
    const lines = this.pending.split('\n');
    this.pending = lines.pop() ?? '';
    for (const text of lines) {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        this.unparsed.push(text);
        continue;
      }
      if (typeof line.port === 'number') {
        if (line.msg === 'listening' && this.port === 0) this.port = line.port;
        else if (line.msg === 'admin endpoint listening' && this.adminPort === 0) this.adminPort = line.port;
      }
      if (typeof line.worker === 'number' && typeof line.pid === 'number' && line.pid !== this.pid) this.workers.add(line.pid);
      if (this.keepLogs) this.logs.push(line);
      this.onLine?.(line);
    }
    this.waiters.notify();
  }
}

/**
 * The echod processes and clients one describe block's tests start, for its afterEach:
 * `cleanup()` destroys the clients, then stops every process (and its workers). Safe to repeat.
 *
 *     const { processes, clients, track, cleanup } = new Tracked();
 *     afterEach(cleanup);
 */
export class Tracked {
  readonly processes: EchodProcess[] = [];
  readonly clients: Client[] = [];
  /** Registers a process: pass it as `startEchod`'s `track`. */
  readonly track = (echod: EchodProcess): void => {
    this.processes.push(echod);
  };
  readonly cleanup = async (): Promise<void> => {
    for (const client of this.clients.splice(0)) client.destroy();
    for (const echod of this.processes.splice(0)) await echod.stop();
  };
}

/**
 * Wraps a test body so that, when it fails, the test's report shows what each echod it started
 * did last (a failure against a child process is otherwise hard to read).
 */
export function reporting(processes: readonly EchodProcess[], fn: () => Promise<void>): (t: TestContext) => Promise<void> {
  return async (t) => {
    try {
      await fn();
    } catch (err) {
      for (const echod of processes) for (const line of echod.summary()) t.diagnostic(line);
      throw err;
    }
  };
}

/**
 * The client's local port: the `remotePort` of its connection in echod's log (the client
 * records it on connect, as the socket forgets it once closed).
 */
export function localPort(client: Client): number {
  const port = client.localPort !== 0 ? client.localPort : client.socket.localPort;
  assert.ok(port !== undefined, 'the client was connected when its port was first asked for');
  return port;
}

export interface Started {
  echod: EchodProcess;
  /** The echo port, from the `listening` line. */
  port: number;
  /** The admin port, when `--admin-port 0` was given. */
  adminPort: number | undefined;
}

/**
 * Starts `echod --host 127.0.0.1 --port 0 --log-format json [extra]` under `runtime` and waits
 * until it serves: the `listening` line (its transport must be the runtime's), the admin
 * endpoint's line if asked for, and `echod started` (logged as the signal handlers go in).
 * Pass `track` to have the process registered for cleanup before anything can fail.
 */
export async function startEchod(
  runtime: Runtime,
  extra: readonly string[],
  track: (echod: EchodProcess) => void,
  startMs = START_MS,
): Promise<Started> {
  const echod = new EchodProcess(runtime, ['--host', HOST, '--port', '0', '--log-format', 'json', ...extra]);
  track(echod);
  const listening = await echod.line('listening', startMs);
  assert.equal(listening.address, HOST);
  assert.equal(listening.transport, runtime, `served through the ${runtime} transport`);
  assert.ok(typeof listening.port === 'number' && listening.port > 0, 'the listening line names the port');
  let adminPort: number | undefined;
  if (extra.includes('--admin-port')) {
    const admin = await echod.line('admin endpoint listening', startMs);
    assert.equal(admin.address, HOST);
    adminPort = admin.port as number;
  }
  await echod.line('echod started', startMs);
  return { echod, port: listening.port, adminPort };
}

/** bin/echod.js runs dist/: refuse to run a build that is missing, warn (once) about a stale one. */
export function assertBuilt(): void {
  if (!existsSync(BUILT_CLI)) throw new Error(`${BUILT_CLI} is missing: run \`npm run build\` first`);
  const built = statSync(BUILT_CLI).mtimeMs;
  const newer = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter(
    (name) => name.endsWith('.ts') && statSync(`${SRC}${name}`).mtimeMs > built,
  );
  if (newer.length > 0 && !staleWarned) {
    staleWarned = true;
    process.stderr.write(
      `\nwarning: src/${newer.join(', src/')} changed after the last build; running dist/ as built (run \`npm run build\`)\n`,
    );
  }
}
let staleWarned = false;

/**
 * The value of the one series named `name` whose labels include `labels` (echod may add its own
 * to every series, such as `server_id`). Fails when there is none or more than one.
 */
export function metric(scrape: Scrape, name: string, labels: Readonly<Record<string, string>> = {}): number {
  const all = scrape.all(name);
  const matches = all.filter((sample) => Object.entries(labels).every(([key, value]) => sample.labels[key] === value));
  assert.equal(matches.length, 1, `one series ${name} with ${JSON.stringify(labels)}; present: ${JSON.stringify(all)}`);
  return (matches[0] as Sample).value;
}

/** GET `path` on the admin port; asserts 200 and returns the body. */
export async function adminGet(adminPort: number, path: string): Promise<string> {
  const response = await request(adminPort, path);
  assert.equal(response.status, 200, `GET ${path}: ${response.status} ${response.body}`);
  return response.body;
}

/** How often `untilReceivingStops` asks /stats. */
const STATS_POLL_MS = 20;

/** The part of `/stats` the suites read. */
export interface StatsBody {
  state: string;
  ready: boolean;
  workers?: number;
  connections: { active: number; total: number; closed: Record<string, number>; rejected: Record<string, number> };
  bytesReceived: number;
  bytesSent: number;
  lines: number;
  internalErrors: number;
}

export async function stats(adminPort: number): Promise<StatsBody> {
  return JSON.parse(await adminGet(adminPort, '/stats')) as StatsBody;
}

/** Asks `/stats` every few milliseconds until `condition` holds (no event announces a count), or fails after `ms`. */
export async function untilStats(
  adminPort: number,
  condition: (body: StatsBody) => boolean,
  what: string,
  ms = WAIT_MS,
): Promise<StatsBody> {
  const deadline = Date.now() + ms;
  for (;;) {
    const body = await stats(adminPort);
    if (condition(body)) return body;
    assert.ok(Date.now() < deadline, `timed out after ${ms} ms waiting for ${what}; /stats: ${JSON.stringify(body)}`);
    await new Promise((resolve) => setTimeout(resolve, STATS_POLL_MS));
  }
}

/**
 * Resolves once the server's received-byte count (from `/stats`) has stood still for
 * `quietMs` over at least `minReads` reads: how a test knows echod has stopped reading from a
 * client. No event announces it, so it is polled, with a deadline. Returns the count.
 */
export async function untilReceivingStops(adminPort: number, ms = WAIT_MS * 2, quietMs = 300, minReads = 5): Promise<number> {
  const deadline = Date.now() + ms;
  let last = -1;
  let since = performance.now();
  let reads = 0;
  for (;;) {
    assert.ok(Date.now() < deadline, `echod kept reading for ${ms} ms (bytesReceived ${last})`);
    const now = (await stats(adminPort)).bytesReceived;
    if (now !== last || now === 0) {
      last = now;
      since = performance.now();
      reads = 0;
    } else if (++reads >= minReads && performance.now() - since >= quietMs) {
      return last;
    }
    await new Promise((resolve) => setTimeout(resolve, STATS_POLL_MS));
  }
}

// `echoes` lives with the client; re-exported here, where the end-to-end suites first found it.
export { echoes } from './clients.js';
