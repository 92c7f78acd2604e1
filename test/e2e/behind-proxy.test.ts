// Acceptance, as a new user would try it: two echod processes behind haproxy (TCP mode,
// round-robin, on loopback) — consecutive connections are answered by both, each naming itself
// in its banner, and the echo stays byte-exact; with `send-proxy-v2` on haproxy's server lines
// and `--proxy-protocol required` on echod, echod's logs and banner show the real client's
// address and port (haproxy's PROXY header really parsed); and through socat as a plain
// forwarder, `echod check --digest crc32c` computes on the client the digests echod logs.
//
// haproxy gets its listening socket from testkit/socket-activate.py (bound by the OS on a
// free port, passed as fd 3: haproxy refuses `bind :0`), so the port is never guessed and
// accepts connections before haproxy is even running. socat binds port 0 and logs the port.
// Every process is stopped by the PID this test started it with.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it, type TestContext } from 'node:test';
import { checkMain, type CheckResult } from '../../src/tools/check.js';
import { Client, HOST, WAIT_MS } from '../../testkit/clients.js';
import { digestHex } from '../../testkit/digests.js';
import { alive, type EchodProcess, type LogLine, localPort, startEchod } from '../../testkit/echod-process.js';
import { HAPROXY_SKIP, startHaproxy } from '../../testkit/haproxy.js';
import { poll } from '../../testkit/wait.js';
import { OutputProcess } from '../../testkit/output-process.js';
import { runJson } from '../../testkit/tool-io.js';

const TEST_TIMEOUT_MS = 40_000;
const SOCAT = spawnSync('socat', ['-V']).status === 0;
/** Consecutive connections through the balancer: two rounds of its two backends. */
const ROUNDS = 2;
/** Every stream case of check, kept small and quick. */
const CHECK_SMALL = ['--connections', '6', '--slow-size', '256KiB', '--idle', '200ms', '--timeout', '5s'];
/** How long socat waits for the other direction after one side's FIN (its default, 0.5 s, races a loaded machine). */
const SOCAT_HALF_CLOSE_S = 10;

/** Lines and bytes a line echo must give back untouched: CRLF, NUL, invalid UTF-8. */
function payloadFor(n: number): Buffer {
  return Buffer.concat([
    Buffer.from(`connection ${n} through the balancer\r\n`),
    Buffer.from([0x00, 0xc3, 0x28, 0xff, 0xfe, 0x0a]),
    Buffer.from(`last line of ${n}\n`),
  ]);
}

/**
 * The haproxy configuration of docs/network-testing.md ("Behind a load balancer"): TCP mode,
 * round-robin over the echods; `bind` is `fd@3` here (the inherited socket), a port there.
 */
function haproxyConfig(bind: string, backends: readonly { name: string; port: number }[], sendProxy: boolean): string {
  return [
    'global',
    '  maxconn 256',
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 30s',
    '  timeout server 30s',
    'frontend echo',
    `  bind ${bind}`,
    '  default_backend echods',
    'backend echods',
    '  balance roundrobin',
    ...backends.map((backend) => `  server ${backend.name} ${HOST}:${backend.port}${sendProxy ? ' send-proxy-v2' : ''}`),
    '',
  ].join('\n');
}

interface Conversation {
  client: Client;
  clientPort: number;
  /** The banner line, newline excluded. */
  banner: string;
  payload: Buffer;
  /** Everything after the banner, up to echod's FIN. */
  echo: Buffer;
}

/** Connects through the proxy, sends `payload`, half-closes, and reads the banner and the echo up to the server's FIN. */
async function converse(port: number, payload: Buffer, clients: Client[], proxy: OutputProcess): Promise<Conversation> {
  const client = await Client.connect(port);
  clients.push(client);
  const clientPort = localPort(client);
  await client.write(payload);
  client.end();
  let all: Buffer;
  try {
    all = await client.readToEnd();
  } catch (err) {
    throw new Error(`${(err as Error).message}; ${proxy.name} says: ${proxy.output}`, { cause: err });
  }
  const newline = all.indexOf(0x0a);
  assert.ok(newline >= 0, `a banner line came first: ${JSON.stringify(all.toString('latin1'))}`);
  return { client, clientPort, banner: all.subarray(0, newline).toString('latin1'), payload, echo: all.subarray(newline + 1) };
}

/** The `connection closed` (or `opened`) line echod logged for the connection whose remote port is `port`. */
function lineFrom(echod: EchodProcess, msg: string, port: number): Promise<LogLine> {
  return echod.log((line) => line.msg === msg && line.remotePort === port, `${msg} from port ${port}`);
}

/** On failure, what each process did last. */
function reporting(
  echods: readonly EchodProcess[],
  proxies: readonly OutputProcess[],
  fn: () => Promise<void>,
): (t: TestContext) => Promise<void> {
  return async (t) => {
    try {
      await fn();
    } catch (err) {
      for (const echod of echods) for (const line of echod.summary()) t.diagnostic(line);
      for (const proxy of proxies) t.diagnostic(`${proxy.name} (pid ${proxy.child.pid ?? '?'}): ${proxy.output}`);
      throw err;
    }
  };
}

describe('echod behind haproxy', { skip: HAPROXY_SKIP }, () => {
  const echods: EchodProcess[] = [];
  const proxies: OutputProcess[] = [];
  const clients: Client[] = [];
  let dir = '';
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    for (const proxy of proxies.splice(0)) await proxy.stop();
    for (const echod of echods.splice(0)) await echod.stop();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  /** Two echods, `a` and `b`, each greeting with its server id and the address it sees. */
  async function twoEchods(extra: readonly string[]): Promise<Map<string, EchodProcess>> {
    const byId = new Map<string, EchodProcess>();
    for (const id of ['a', 'b']) {
      const { echod } = await startEchod(
        'node',
        ['--server-id', id, '--banner', 'hello from {server_id} to {remote}', ...extra],
        (started) => echods.push(started),
      );
      byId.set(id, echod);
    }
    return byId;
  }

  function portOf(echod: EchodProcess): number {
    const listening = echod.logs.find((line) => line.msg === 'listening');
    assert.ok(typeof listening?.port === 'number');
    return listening.port;
  }

  it(
    'round-robin: consecutive connections are answered by a, b, a, b (each names itself in its banner), and every echo is byte-exact',
    { timeout: TEST_TIMEOUT_MS },
    reporting(echods, proxies, async () => {
      dir = mkdtempSync(join(tmpdir(), 'echod-behind-proxy-'));
      const byId = await twoEchods([]);
      const backends = [...byId].map(([name, echod]) => ({ name, port: portOf(echod) }));
      const { haproxy, port } = await startHaproxy(
        dir,
        (bind) => haproxyConfig(bind, backends, false),
        (started) => proxies.push(started),
      );

      const answeredBy: string[] = [];
      for (let n = 1; n <= ROUNDS * byId.size; n++) {
        const talk = await converse(port, payloadFor(n), clients, haproxy);
        const banner = /^hello from (\w+) to 127\.0\.0\.1:(\d+)$/.exec(talk.banner);
        assert.ok(banner, `the banner names a server: ${talk.banner}`);
        const [, id, seenPort] = banner;
        answeredBy.push(id as string);
        assert.ok(
          talk.echo.equals(talk.payload),
          `connection ${n}: the echo is byte-exact (got ${JSON.stringify(talk.echo.toString('latin1'))})`,
        );
        // Without a PROXY header, echod sees the balancer, not the client.
        const echod = byId.get(id as string);
        assert.ok(echod, `server id ${id} is one of ours`);
        const close = await lineFrom(echod, 'connection closed', Number(seenPort));
        assert.equal(close.bytesIn, talk.payload.length);
        assert.equal(close.via, undefined, 'no PROXY header, so no balancer to name');
      }
      const [first, second] = answeredBy as [string, string];
      assert.deepEqual(new Set([first, second]), new Set(['a', 'b']), `both backends answered: ${answeredBy.join(', ')}`);
      assert.deepEqual(answeredBy, [first, second, first, second], 'strict round-robin');
      for (const [id, echod] of byId) assert.equal(echod.all('connection closed').length, ROUNDS, `${id} served ${ROUNDS} connections`);
    }),
  );

  it(
    "send-proxy-v2 to --proxy-protocol required: echod's banner and logs show the client's own address and port, the balancer as via",
    { timeout: TEST_TIMEOUT_MS },
    reporting(echods, proxies, async () => {
      dir = mkdtempSync(join(tmpdir(), 'echod-behind-proxy-'));
      const byId = await twoEchods(['--proxy-protocol', 'required', '--digest', 'crc32c']);
      const backends = [...byId].map(([name, echod]) => ({ name, port: portOf(echod) }));
      const { haproxy, port } = await startHaproxy(
        dir,
        (bind) => haproxyConfig(bind, backends, true),
        (started) => proxies.push(started),
      );

      const answeredBy = new Set<string>();
      for (let n = 1; n <= byId.size; n++) {
        const talk = await converse(port, payloadFor(n), clients, haproxy);
        const [, id, seenPort] = /^hello from (\w+) to 127\.0\.0\.1:(\d+)$/.exec(talk.banner) ?? [];
        assert.ok(id !== undefined, `the banner names a server: ${talk.banner}`);
        answeredBy.add(id);
        assert.equal(Number(seenPort), talk.clientPort, "{remote} is the client's own port, from haproxy's PROXY header");
        assert.ok(talk.echo.equals(talk.payload), `connection ${n}: the echo is byte-exact, the header not echoed`);

        const echod = byId.get(id) as EchodProcess;
        const opened = await lineFrom(echod, 'connection opened', talk.clientPort);
        const proxy = opened.proxy as {
          version: number;
          command: string;
          source: { address: string; port: number };
          destination: { address: string; port: number };
        };
        assert.equal(proxy.version, 2);
        assert.equal(proxy.command, 'PROXY');
        assert.deepEqual(proxy.source, { address: HOST, port: talk.clientPort });
        assert.deepEqual(proxy.destination, { address: HOST, port }, "the header's destination is haproxy's frontend");

        const close = await lineFrom(echod, 'connection closed', talk.clientPort);
        assert.equal(close.remote, HOST);
        const via = close.via as { address: string; port: number };
        assert.equal(via.address, HOST, 'the balancer is named as via');
        assert.notEqual(via.port, talk.clientPort, "via is haproxy's own connection, not the client's");
        assert.equal(close.reason, 'client_closed');
        // The digests cover the bytes after the header: the client's payload, and banner + echo.
        assert.deepEqual(close.digest, {
          algorithm: 'crc32c',
          received: digestHex('crc32c', talk.payload),
          sent: digestHex('crc32c', Buffer.concat([Buffer.from(`${talk.banner}\n`), talk.echo])),
        });
      }
      assert.deepEqual(answeredBy, new Set(['a', 'b']));
    }),
  );
});

describe('echod behind socat', { skip: SOCAT ? false : 'socat is not installed' }, () => {
  const echods: EchodProcess[] = [];
  const proxies: OutputProcess[] = [];
  afterEach(async () => {
    for (const proxy of proxies.splice(0)) {
      await proxy.stop();
      // socat forks a child per connection, and logged each one's PID: ours too, and must be gone.
      await stopChildren([...proxy.output.matchAll(/forked off child process (\d+)/g)].map((match) => Number(match[1])));
    }
    for (const echod of echods.splice(0)) await echod.stop();
  });

  it(
    'echod check --digest crc32c through socat: every connection check made has the digests of one close line echod logged, crossed over',
    { timeout: TEST_TIMEOUT_MS },
    reporting(echods, proxies, async () => {
      const { echod, port: echodPort } = await startEchod('node', ['--digest', 'crc32c'], (started) => echods.push(started));
      // -d -d: socat logs the port it bound and each child it forks.
      const socat = new OutputProcess('socat', 'socat', [
        '-d',
        '-d',
        '-t',
        String(SOCAT_HALF_CLOSE_S),
        `TCP-LISTEN:0,bind=${HOST},reuseaddr,fork`,
        `TCP:${HOST}:${echodPort}`,
      ]);
      proxies.push(socat);
      const [, port] = await socat.match(/listening on AF=2 127\.0\.0\.1:(\d+)/, 'its listening port');

      const { code, result } = await runJson<CheckResult>(checkMain, [`${HOST}:${port}`, '--digest', 'crc32c', ...CHECK_SMALL]);
      assert.equal(code, 0, JSON.stringify(result.cases.filter((c) => c.status === 'fail')));
      const connections = result.cases.flatMap((c) => c.connections ?? []);
      assert.ok(connections.length > 0);

      // Through socat, echod's remotePort is socat's: the lines are matched by what they say.
      await echod.until(() => echod.all('connection closed').length >= connections.length, `${connections.length} closes`);
      const closes = echod.all('connection closed');
      assert.equal(closes.length, connections.length, 'one echod connection per check connection');
      const client = connections.map((c) => `${c.bytesSent}/${c.digest.sent} ${c.bytesReceived}/${c.digest.received}`).sort();
      const server = closes.map((line) => {
        const digest = line.digest as { algorithm: string; received: string; sent: string };
        assert.equal(digest.algorithm, 'crc32c');
        return `${String(line.bytesIn)}/${digest.received} ${String(line.bytesOut)}/${digest.sent}`;
      });
      assert.deepEqual(server.sort(), client);
    }),
  );
});

/** SIGTERM to each of these PIDs still running socat (a PID may have been reused), and waits until they are gone. */
async function stopChildren(pids: readonly number[]): Promise<void> {
  const ours = pids.filter((pid) => alive(pid) && commandOf(pid).includes('socat'));
  for (const pid of ours) process.kill(pid, 'SIGTERM');
  // No event reports the end of a process that is not our child: polled, with a deadline.
  await poll(() => ours.every((pid) => !alive(pid)), WAIT_MS, `socat children ${ours.join(', ')} to exit`);
}

/** The command line of a process, or '' once it is gone. */
function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}
