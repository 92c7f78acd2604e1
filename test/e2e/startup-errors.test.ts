// Start-up failures a person can act on (issue 14, item 10), with the real binary under Node and
// Bun: a bind that fails prints one line on stderr naming the listener, the cause and a hint,
// even with --log-level silent, and exits 1 without a stack; clashes echod can see itself and
// bad TLS files exit 2 before anything listens; no internal option name reaches a message.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { type TestPki, testPki } from '../../testkit/certs.js';
import { HOST, holdTcpPort, portOf } from '../../testkit/clients.js';
import { EchodProcess, RUNTIMES, type Runtime } from '../../testkit/echod-process.js';
import { UdpClient } from '../../testkit/udp-client.js';

const TEST_TIMEOUT_MS = 20_000;
/** An address from TEST-NET-1 (RFC 5737): on no host. */
const FOREIGN_ADDRESS = '192.0.2.1';

describe('start-up failures', () => {
  const processes: EchodProcess[] = [];
  const held: Server[] = [];
  const udps: UdpClient[] = [];
  let dir: string;
  let pki: TestPki;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'echod-startup-'));
    pki = await testPki();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    for (const proc of processes.splice(0)) await proc.stop();
    await Promise.all(udps.splice(0).map((udp) => udp.close()));
    await Promise.all(held.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
  });

  async function holdPort(): Promise<number> {
    const server = await holdTcpPort();
    held.push(server);
    return portOf(server);
  }

  /** Runs echod to its exit; returns its exit code and stderr. */
  async function run(runtime: Runtime, args: readonly string[]): Promise<{ code: number | null; stderr: string; proc: EchodProcess }> {
    const proc = new EchodProcess(runtime, ['--log-format', 'json', ...args]);
    processes.push(proc);
    const exit = await proc.exited(TEST_TIMEOUT_MS);
    return { code: exit.code, stderr: proc.stderr, proc };
  }

  /** One line, no stack frame. */
  function assertOneLine(stderr: string): void {
    const lines = stderr
      .trimEnd()
      .split('\n')
      .filter((line) => !line.startsWith("Try 'echod --help'"));
    assert.equal(lines.length, 1, `one line on stderr: ${JSON.stringify(stderr)}`);
    assert.ok(!/\n\s+at /.test(stderr), 'no stack trace');
  }

  for (const runtime of RUNTIMES) {
    describe(runtime, () => {
      it(
        'a port in use: names the listener and says another process has it, exit 1, even with --log-level silent',
        { timeout: TEST_TIMEOUT_MS },
        async () => {
          const port = await holdPort();
          const { code, stderr, proc } = await run(runtime, ['--host', HOST, '--port', String(port), '--log-level', 'silent']);
          assert.equal(code, 1);
          assert.equal(
            stderr.trim(),
            `echod: cannot listen on tcp://${HOST}:${port}: ${HOST}:${port} is in use by another process (stop it, or choose another port)`,
          );
          assertOneLine(stderr);
          assert.deepEqual(proc.logs, [], 'silent means silent on stdout');
        },
      );

      it('an address not on this host: says so, exit 1', { timeout: TEST_TIMEOUT_MS }, async () => {
        const { code, stderr } = await run(runtime, ['--listen', `tcp://${FOREIGN_ADDRESS}:0`]);
        assert.equal(code, 1);
        assert.match(
          stderr,
          new RegExp(
            `cannot listen on tcp://${FOREIGN_ADDRESS.replaceAll('.', '\\.')}:0: ${FOREIGN_ADDRESS.replaceAll('.', '\\.')} is not an address of this host`,
          ),
        );
        assertOneLine(stderr);
      });

      it('a udp port in use: names the udp listener', { timeout: TEST_TIMEOUT_MS }, async () => {
        const udp = await UdpClient.bind(HOST);
        udps.push(udp);
        const { code, stderr } = await run(runtime, ['--listen', `tcp://${HOST}:0`, '--listen', `udp://${HOST}:${udp.port}`]);
        assert.equal(code, 1);
        assert.match(
          stderr,
          new RegExp(
            `^echod: cannot listen on udp://127\\.0\\.0\\.1:${udp.port}: 127\\.0\\.0\\.1:${udp.port} is in use by another process`,
          ),
        );
        assertOneLine(stderr);
      });

      it('a unix socket in a directory that does not exist: names the directory', { timeout: TEST_TIMEOUT_MS }, async () => {
        const path = join(dir, 'missing', 'echod.sock');
        const { code, stderr } = await run(runtime, ['--listen', `unix://${path}`]);
        assert.equal(code, 1);
        assert.ok(stderr.includes(`cannot listen on unix://${path}: the directory ${join(dir, 'missing')} does not exist`), stderr);
        assertOneLine(stderr);
      });

      it('the admin port taken by another process: names the admin endpoint', { timeout: TEST_TIMEOUT_MS }, async () => {
        const port = await holdPort();
        const { code, stderr } = await run(runtime, ['--host', HOST, '--port', '0', '--admin-port', String(port), '--log-level', 'silent']);
        assert.equal(code, 1);
        assert.ok(
          stderr.includes(
            `cannot listen on the admin endpoint (--admin-port ${port}, ${HOST}:${port}): ${HOST}:${port} is in use by another process`,
          ),
          stderr,
        );
        assertOneLine(stderr);
      });
    });
  }

  describe('clashes seen before binding exit 2 and bind nothing', () => {
    it("the admin port equal to a listener's", { timeout: TEST_TIMEOUT_MS }, async () => {
      const port = await holdPort(); // were anything bound, the message would be "in use" instead
      const { code, stderr, proc } = await run('node', ['--listen', `tcp://${HOST}:${port}`, '--admin-port', String(port)]);
      assert.equal(code, 2);
      assert.ok(
        stderr.includes(`tcp://${HOST}:${port} and the admin endpoint (--admin-port ${port}, ${HOST}:${port}) both bind TCP port ${port}`),
        stderr,
      );
      assert.ok(!proc.logs.some((line) => line.msg === 'listening'));
    });

    it('the same listener twice', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { code, stderr } = await run('node', ['--listen', 'tcp://127.0.0.1:18080', '--listen', 'tcp://127.0.0.1:18080']);
      assert.equal(code, 2);
      assert.ok(stderr.includes('tcp://127.0.0.1:18080 is given twice'), stderr);
    });

    it('tcp and tls on one port', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { code, stderr } = await run('node', ['--listen', 'tcp://:18080', '--listen', 'tls://:18080', '--tls-self-signed']);
      assert.equal(code, 2);
      assert.ok(stderr.includes('both bind TCP port 18080'), stderr);
    });
  });

  describe('bad TLS files exit 2, naming the flag and the file, before anything listens', () => {
    function file(name: string, text: string): string {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    }
    const tls = ['--listen', `tls://${HOST}:0`];

    it('a certificate that is not PEM', { timeout: TEST_TIMEOUT_MS }, async () => {
      const cert = file('not-pem.crt', 'not a certificate\n');
      const key = file('server.key', pki.server.key);
      const { code, stderr, proc } = await run('node', [...tls, '--tls-cert', cert, '--tls-key', key]);
      assert.equal(code, 2);
      assert.ok(stderr.includes(`invalid --tls-cert: ${cert}: no PEM certificate in it`), stderr);
      assert.ok(!proc.logs.some((line) => line.msg === 'listening'));
    });

    it('a key that does not match the certificate', { timeout: TEST_TIMEOUT_MS }, async () => {
      const cert = file('server.crt', pki.server.cert);
      const key = file('client.key', pki.client.key);
      const { code, stderr } = await run('node', [...tls, '--tls-cert', cert, '--tls-key', key]);
      assert.equal(code, 2);
      assert.ok(stderr.includes(`--tls-key ${key} does not match the certificate in --tls-cert ${cert}`), stderr);
    });

    it(
      'a file that cannot be read is named with the reason in words; a CA bundle with no certificate',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const missing = join(dir, 'no-such-ca.pem');
        const unread = await run('node', [...tls, '--tls-self-signed', '--tls-client-auth', 'require', '--tls-ca', missing]);
        assert.equal(unread.code, 2);
        assert.ok(unread.stderr.includes(`invalid --tls-ca: ${missing}: no such file`), unread.stderr);
        const directory = await run('node', [...tls, '--tls-cert', dir, '--tls-key', dir]);
        assert.equal(directory.code, 2);
        assert.ok(directory.stderr.includes(`invalid --tls-cert: ${dir}: is a directory`), directory.stderr);
        const junk = file('junk-ca.pem', 'junk\n');
        const empty = await run('node', [...tls, '--tls-self-signed', '--tls-client-auth', 'require', '--tls-ca', junk]);
        assert.equal(empty.code, 2);
        assert.ok(empty.stderr.includes(`invalid --tls-ca: ${junk}: no PEM certificate in it`), empty.stderr);
      },
    );
  });

  describe('no internal option name in a message', () => {
    for (const { name, args, says } of [
      {
        name: 'a tls listener without certificates',
        args: ['--listen', 'tls://127.0.0.1:0'],
        says: '--tls-cert FILE and --tls-key FILE, or --tls-self-signed',
      },
      {
        name: 'client auth without a CA',
        args: ['--listen', 'tls://127.0.0.1:0', '--tls-self-signed', '--tls-client-auth', 'require'],
        says: '--tls-client-auth require needs --tls-ca FILE',
      },
      {
        // The check is between two options, and the one it blames was left at its default.
        name: 'an http head deadline longer than the request deadline',
        args: ['--listen', 'http://127.0.0.1:0', '--http-headers-timeout', '70s'],
        says: 'invalid --http-request-timeout (its default): 60000 (expected at least --http-headers-timeout (70000))',
      },
    ]) {
      it(name, { timeout: TEST_TIMEOUT_MS }, async () => {
        const { code, stderr } = await run('node', args);
        assert.equal(code, 2);
        assert.ok(stderr.includes(says), stderr);
        assert.ok(!/--tls[:.]|undefined|null|\b(http|tls|admin)\.[a-z]+[A-Z]/.test(stderr), `an internal name leaked: ${stderr}`);
      });
    }
  });
});
