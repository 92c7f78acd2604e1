// `echod --check-config` and `echod config check`, as `nginx -t`: everything checked, the
// effective configuration printed, nothing bound, exit 0 or 2.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, it } from 'node:test';
import { HOST } from '../../testkit/clients.js';
import { EchodProcess } from '../../testkit/echod-process.js';

const TEST_TIMEOUT_MS = 20_000;

describe('echod --check-config', () => {
  const processes: EchodProcess[] = [];
  const held: Server[] = [];
  afterEach(async () => {
    for (const proc of processes.splice(0)) await proc.stop();
    await Promise.all(held.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
  });

  async function run(
    args: readonly string[],
    env: Record<string, string> = {},
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const proc = new EchodProcess('node', args, env);
    processes.push(proc);
    const { code } = await proc.exited(TEST_TIMEOUT_MS);
    return { code, stdout: proc.unparsed.join('\n'), stderr: proc.stderr };
  }

  it(
    'prints the effective configuration and exits 0 without binding (its port is taken, and that is fine)',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const server = createServer();
      held.push(server);
      server.listen(0, HOST);
      await once(server, 'listening');
      const { port } = server.address() as { port: number };
      const { code, stdout, stderr } = await run(
        [
          '--check-config',
          '--listen',
          `tcp://${HOST}:${port}`,
          '--listen',
          'udp://127.0.0.1:0',
          '--max-line-bytes',
          '64KiB',
          '--admin-port',
          '0',
          '--log-level',
          'debug',
          '--log-format',
          'json',
          '--direct-read',
          'off',
        ],
        {
          ECHOD_PORTT: '1',
        },
      );
      assert.equal(code, 0, stderr);
      const lines = stdout.split('\n');
      assert.match(lines[0] ?? '', /^echod \d+\.\d+\.\d+ \((node|bun) /);
      assert.ok(lines.includes(`  tcp://${HOST}:${port} mode=line`), stdout);
      assert.ok(lines.includes('  udp://127.0.0.1:0'), stdout);
      for (const option of ['--max-line-bytes 64KiB', '--log-level debug', '--log-format json', '--direct-read off'])
        assert.ok(lines.includes(`  ${option}`), `${option} is shown:\n${stdout}`);
      assert.ok(lines.includes('workers: 1'), stdout);
      assert.ok(lines.includes('admin endpoint: 127.0.0.1:0'), stdout);
      assert.equal(lines.at(-1), 'configuration OK');
      assert.ok(stderr.includes('echod: warning: ECHOD_PORTT is not a variable echod reads'), stderr);
    },
  );

  it('`echod config check` is the same; a bad configuration exits 2 naming what is wrong', { timeout: TEST_TIMEOUT_MS }, async () => {
    const good = await run(['config', 'check', '--port', '0']);
    assert.equal(good.code, 0, good.stderr);
    assert.ok(good.stdout.endsWith('configuration OK'));
    for (const [args, says] of [
      [['--check-config', '--listen', 'tls://127.0.0.1:0'], '--tls-cert FILE and --tls-key FILE, or --tls-self-signed'],
      [['config', 'check', '--listen', 'tcp://127.0.0.1:9000', '--listen', 'tcp://127.0.0.1:9000'], 'tcp://127.0.0.1:9000 is given twice'],
      [['--check-config', '--banner', '{hostnme}'], 'invalid --banner'],
    ] as const) {
      const bad = await run(args);
      assert.equal(bad.code, 2, `${args.join(' ')}: ${bad.stderr}`);
      assert.ok(bad.stderr.includes(says), bad.stderr);
      assert.equal(bad.stdout, '');
    }
  });
});
