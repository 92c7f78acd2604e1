// systemd socket activation: echod started through a launcher that binds the listening
// sockets, puts them at fd 3…, sets LISTEN_FDS and LISTEN_PID, and execs echod (as systemd
// does) serves on the inherited sockets — clients that connected before echod was up
// included — and exits 0 on SIGTERM. With a LISTEN_PID that is not its own, it ignores them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from '../../testkit/admin-http.js';
import { Client, HOST } from '../../testkit/clients.js';
import { cleanEnv, echoes, EchodProcess, START_MS } from '../../testkit/echod-process.js';

const TEST_TIMEOUT_MS = 30_000;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/echod.js', import.meta.url));
const LAUNCHER = fileURLToPath(new URL('../../testkit/socket-activate.py', import.meta.url));
const PYTHON = spawnSync('python3', ['--version']).status === 0;

/** The ports the launcher bound and handed down, from its `ports P1 P2 …` line on stderr. */
async function inheritedPorts(echod: EchodProcess): Promise<number[]> {
  const reported = (): RegExpExecArray | null => /^ports ([\d ]+)$/m.exec(echod.stderr);
  await echod.until(() => reported() !== null, 'the launcher to report its ports', START_MS);
  return (reported()?.[1] ?? '').split(' ').map(Number);
}

describe(
  'systemd socket activation (LISTEN_FDS, LISTEN_PID)',
  { skip: PYTHON ? false : 'python3 is not installed (the launcher is a Python script)' },
  () => {
    const processes: EchodProcess[] = [];
    const clients: Client[] = [];

    afterEach(async () => {
      for (const client of clients.splice(0)) client.destroy();
      for (const echod of processes.splice(0)) await echod.stop();
    });

    function launch(sockets: number, args: readonly string[] = [], launcherFlags: readonly string[] = []): EchodProcess {
      const argv = ['python3', LAUNCHER, String(sockets), ...launcherFlags, '--', process.execPath, BIN, '--log-format', 'json', ...args];
      const echod = new EchodProcess('node', [], {}, { command: { argv, cwd: ROOT, env: cleanEnv() } });
      processes.push(echod);
      return echod;
    }

    async function connect(port: number): Promise<Client> {
      const client = await Client.connect(port);
      clients.push(client);
      return client;
    }

    it(
      'serves the inherited socket, including a client that connected before echod was up; SIGTERM exits 0',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const echod = launch(1, ['--admin-port', '0']);
        const [port = 0] = await inheritedPorts(echod);
        // The socket listens from the launcher on: the kernel queues this client until echod accepts it.
        const early = await connect(port);
        await early.write('connected before echod was up\n');

        const listening = await echod.line('listening', START_MS);
        assert.equal(listening.port, port, 'the listening line shows the inherited socket');
        assert.equal(listening.address, HOST);
        // Named by the socket systemd bound (its address, not the default host) and its fd.
        const name = `tcp://${HOST}:${port} (fd 3)`;
        assert.equal(listening.listener, name);
        assert.equal(listening.pid, echod.child.pid, 'exec kept the pid, so LISTEN_PID matched');
        assert.equal(echod.all('listening').length, 1, 'and nothing else was bound');
        assert.equal(await early.readText('connected before echod was up\n'), 'connected before echod was up\n');
        await echod.line('echod started', START_MS);
        await echoes(await connect(port), 'and after\n');
        const admin = await echod.line('admin endpoint listening', START_MS);
        const stats = JSON.parse((await request(admin.port as number, '/stats')).body) as { listeners: { url: string }[] };
        assert.deepEqual(
          stats.listeners.map((listener) => listener.url),
          [name],
          '/stats names it so too',
        );
        const metrics = (await request(admin.port as number, '/metrics')).body;
        assert.ok(metrics.includes(`listener="${name}"`), 'and the metrics label');

        echod.child.kill('SIGTERM');
        assert.deepEqual(await echod.exited(), { code: 0, signal: null });
        assert.equal(echod.all('closed').length, 1, 'drained and closed');
        const opened = echod.all('connection opened');
        assert.equal(opened.length, 2);
        for (const line of [...opened, ...echod.all('connection closed')]) assert.equal(line.listener, name, 'the early client too');
      },
    );

    it('serves every inherited socket (LISTEN_FDS=2), with --mode applied to each', { timeout: TEST_TIMEOUT_MS }, async () => {
      const echod = launch(2, ['--mode', 'raw']);
      const ports = await inheritedPorts(echod);
      assert.equal(ports.length, 2);
      await echod.line('echod started', START_MS);
      const listening = echod.all('listening');
      assert.deepEqual(listening.map((line) => line.port).sort(), [...ports].sort());
      assert.deepEqual(
        listening.map((line) => line.mode),
        ['raw', 'raw'],
      );
      for (const port of ports) await echoes(await connect(port), `raw, no newline, port ${port}`);

      echod.child.kill('SIGTERM');
      assert.deepEqual(await echod.exited(), { code: 0, signal: null });
    });

    it(
      'refuses a datagram socket (ListenDatagram=) at start-up: one line naming the fd and what to change, exit 2',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const echod = launch(1, [], ['--datagram']);
        await inheritedPorts(echod);
        assert.equal(await echod.exitCode(), 2, `stderr: ${echod.stderr}`);
        const lines = echod.stderr.split('\n').filter((line) => line !== '' && !line.startsWith('ports '));
        assert.deepEqual(lines, [
          'echod: cannot listen on fd 3 from systemd: it is a datagram socket (ListenDatagram=); echod serves stream sockets from socket activation: use ListenStream=, or listen on udp:// yourself',
        ]);
        assert.equal(echod.all('listening').length, 0);
      },
    );

    it('ignores LISTEN_FDS meant for another process (LISTEN_PID not its own)', { timeout: TEST_TIMEOUT_MS }, async () => {
      const echod = launch(1, ['--host', HOST, '--port', '0'], ['--wrong-pid']);
      const [inherited] = await inheritedPorts(echod);
      await echod.line('echod started', START_MS);
      const listening = echod.all('listening');
      assert.equal(listening.length, 1);
      assert.notEqual(listening[0]?.port, inherited, 'it bound its own port instead');
      await echoes(await connect(listening[0]?.port as number), 'own socket\n');

      echod.child.kill('SIGTERM');
      assert.deepEqual(await echod.exited(), { code: 0, signal: null });
    });
  },
);
