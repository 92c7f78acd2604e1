// systemd socket activation: echod started through a launcher that binds the listening
// sockets, puts them at fd 3…, sets LISTEN_FDS and LISTEN_PID, and execs echod (as systemd
// does) serves on the inherited sockets — clients that connected before echod was up
// included — and exits 0 on SIGTERM. With a LISTEN_PID that is not its own, it ignores them.
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client, HOST, WAIT_MS } from './helpers/clients.js';
import { Waiters } from './helpers/wait.js';

const TEST_TIMEOUT_MS = 30_000;
/** Startup loads Node, pino and prom-client: slower than any loopback wait. */
const START_MS = 10_000;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = fileURLToPath(new URL('../bin/echod.js', import.meta.url));
const LAUNCHER = fileURLToPath(new URL('../testkit/socket-activate.py', import.meta.url));
const PYTHON = spawnSync('python3', ['--version']).status === 0;

interface LogLine {
  msg: string;
  pid: number;
  [field: string]: unknown;
}

/** The test process's environment without anything that would change echod's behaviour. */
function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key.startsWith('ECHOD_') || key.startsWith('LISTEN_') || key === 'NODE_OPTIONS' || key.startsWith('NODE_TEST')) continue;
    env[key] = value;
  }
  return env;
}

/** echod run through the launcher: the inherited ports (from the launcher's stderr) and echod's JSON log. */
class ActivatedEchod {
  readonly child: ChildProcessWithoutNullStreams;
  readonly logs: LogLine[] = [];
  ports: number[] | null = null;
  stderr = '';
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private pending = '';
  private readonly waiters = new Waiters();

  constructor(sockets: number, args: readonly string[], launcherFlags: readonly string[] = []) {
    this.child = spawn('python3', [LAUNCHER, String(sockets), ...launcherFlags, '--', process.execPath, BIN, '--log-format', 'json', ...args], { cwd: ROOT, env: cleanEnv() });
    this.child.stdout.on('data', (chunk: Buffer) => {
      const lines = (this.pending + chunk.toString('latin1')).split('\n');
      this.pending = lines.pop() ?? '';
      for (const line of lines) if (line.startsWith('{')) this.logs.push(JSON.parse(line) as LogLine);
      this.waiters.notify();
    });
    this.child.stderr.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
      const match = /^ports ([\d ]+)$/m.exec(this.stderr);
      if (match !== null && this.ports === null) this.ports = (match[1] ?? '').split(' ').map(Number);
      this.waiters.notify();
    });
    this.child.on('close', (code, signal) => {
      this.exit = { code, signal };
      this.waiters.notify();
    });
  }

  async inheritedPorts(): Promise<number[]> {
    await this.until(() => this.ports !== null, 'the launcher to report its ports', START_MS);
    return this.ports as number[];
  }

  all(msg: string): LogLine[] {
    return this.logs.filter((line) => line.msg === msg);
  }

  async line(msg: string, ms = START_MS): Promise<LogLine> {
    await this.until(() => this.all(msg).length > 0, JSON.stringify(msg), ms);
    return this.all(msg)[0] as LogLine;
  }

  until(condition: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
    return this.waiters.until(
      () => {
        if (condition()) return true;
        if (this.exit !== null) throw new Error(`exited (${JSON.stringify(this.exit)}) before ${what}; stderr: ${this.stderr}`);
        return false;
      },
      ms,
      what,
    );
  }

  async exited(ms = WAIT_MS): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    await this.waiters.until(() => this.exit !== null, ms, 'echod to exit');
    return this.exit as { code: number | null; signal: NodeJS.Signals | null };
  }

  /** Cleanup: kills the process (ours, by its handle) if it still runs. */
  async stop(): Promise<void> {
    if (this.exit === null && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited();
  }
}

async function echoes(client: Client, text: string): Promise<void> {
  await client.write(text);
  assert.equal(await client.readText(text), text);
}

describe('systemd socket activation (LISTEN_FDS, LISTEN_PID)', { skip: PYTHON ? false : 'python3 is not installed (the launcher is a Python script)' }, () => {
  const processes: ActivatedEchod[] = [];
  const clients: Client[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    for (const echod of processes.splice(0)) await echod.stop();
  });

  function launch(sockets: number, args: readonly string[] = [], launcherFlags: readonly string[] = []): ActivatedEchod {
    const echod = new ActivatedEchod(sockets, args, launcherFlags);
    processes.push(echod);
    return echod;
  }

  async function connect(port: number): Promise<Client> {
    const client = await Client.connect(port);
    clients.push(client);
    return client;
  }

  it('serves the inherited socket, including a client that connected before echod was up; SIGTERM exits 0', { timeout: TEST_TIMEOUT_MS }, async () => {
    const echod = launch(1);
    const [port = 0] = await echod.inheritedPorts();
    // The socket listens from the launcher on: the kernel queues this client until echod accepts it.
    const early = await connect(port);
    await early.write('connected before echod was up\n');

    const listening = await echod.line('listening');
    assert.equal(listening.port, port, 'the listening line shows the inherited socket');
    assert.equal(listening.address, HOST);
    assert.equal(listening.pid, echod.child.pid, 'exec kept the pid, so LISTEN_PID matched');
    assert.equal(echod.all('listening').length, 1, 'and nothing else was bound');
    assert.equal(await early.readText('connected before echod was up\n'), 'connected before echod was up\n');
    await echod.line('echod started');
    await echoes(await connect(port), 'and after\n');

    echod.child.kill('SIGTERM');
    assert.deepEqual(await echod.exited(), { code: 0, signal: null });
    assert.equal(echod.all('closed').length, 1, 'drained and closed');
  });

  it('serves every inherited socket (LISTEN_FDS=2), with --mode applied to each', { timeout: TEST_TIMEOUT_MS }, async () => {
    const echod = launch(2, ['--mode', 'raw']);
    const ports = await echod.inheritedPorts();
    assert.equal(ports.length, 2);
    await echod.line('echod started');
    const listening = echod.all('listening');
    assert.deepEqual(listening.map((line) => line.port).sort(), [...ports].sort());
    assert.deepEqual(listening.map((line) => line.mode), ['raw', 'raw']);
    for (const port of ports) await echoes(await connect(port), `raw, no newline, port ${port}`);

    echod.child.kill('SIGTERM');
    assert.deepEqual(await echod.exited(), { code: 0, signal: null });
  });

  it('ignores LISTEN_FDS meant for another process (LISTEN_PID not its own)', { timeout: TEST_TIMEOUT_MS }, async () => {
    const echod = launch(1, ['--host', HOST, '--port', '0'], ['--wrong-pid']);
    const [inherited] = await echod.inheritedPorts();
    await echod.line('echod started');
    const listening = echod.all('listening');
    assert.equal(listening.length, 1);
    assert.notEqual(listening[0]?.port, inherited, 'it bound its own port instead');
    await echoes(await connect(listening[0]?.port as number), 'own socket\n');

    echod.child.kill('SIGTERM');
    assert.deepEqual(await echod.exited(), { code: 0, signal: null });
  });
});
