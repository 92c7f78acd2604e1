// Who answered: `serverId`, the `banner` sent once when a connection opens, and the `prefix`
// before every echoed line, with their placeholders expanded per connection. Library over real
// loopback sockets, then the `echod` command (--banner, --server-id) as a child process.
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { afterEach, describe, it } from 'node:test';
import { InvalidOptionError } from '../../src/core/errors.js';
import { createEchoServer } from '../../src/server/server.js';
import { AdminFixture } from '../../testkit/admin-http.js';
import { Client, Fixture, HOST } from '../../testkit/clients.js';
import { adminGet, EchodProcess, localPort, START_MS, startEchod, Tracked } from '../../testkit/echod-process.js';
import { parsePrometheus } from '../../testkit/prometheus.js';

const TEST_TIMEOUT_MS = 10_000;
const CLI_TIMEOUT_MS = 20_000;
/** Set for the banner's {env:NAME}; unique enough not to collide with anything real. */
const ENV_NAME = 'ECHOD_IDENTITY_TEST_POD';

/** `ip:port` of the client's end, as {remote} writes it. */
function remoteOf(client: Client): string {
  return `${client.socket.localAddress ?? ''}:${client.socket.localPort ?? 0}`;
}

describe('banner, prefix and server id (library)', () => {
  let fixture: Fixture | undefined;
  afterEach(async () => {
    await fixture?.cleanup();
    fixture = undefined;
    delete process.env[ENV_NAME];
  });

  it(
    'the banner is sent once, first, with {server_id} {conn_id} {remote} {local} {env:NAME} expanded per connection',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      process.env[ENV_NAME] = 'echod-7';
      fixture = await Fixture.start({
        serverId: 'lab1',
        banner: `hello from {server_id} #{conn_id} to {remote} at {local} pod={env:${ENV_NAME}} unset=[{env:ECHOD_IDENTITY_UNSET}]`,
      });
      const port = fixture.port;
      const expected = (client: Client, id: number): string =>
        `hello from lab1 #${id} to ${remoteOf(client)} at ${HOST}:${port} pod=echod-7 unset=[]\n`;

      const first = await fixture.connect();
      const second = await fixture.connect();
      const [firstId, secondId] = fixture.events.opened as [number, number];
      assert.notEqual(firstId, secondId);
      const banners = new Map<number, string>();
      for (const [client, id] of [
        [first, firstId],
        [second, secondId],
      ] as const) {
        const banner = expected(client, id);
        banners.set(id, banner);
        assert.equal(await client.readText(banner), banner);
        // Once: after it comes the echo and nothing else, up to EOF.
        await client.write('ping\n');
        assert.equal(await client.readText('ping\n'), 'ping\n');
        client.end();
        assert.equal((await client.readToEnd()).toString(), '');
      }
      const closes = await fixture.events.closed(2);
      for (const summary of closes) {
        assert.equal(
          summary.bytesSent,
          Buffer.byteLength(banners.get(summary.id) ?? '') + 'ping\n'.length,
          'the banner is counted as sent',
        );
      }
    },
  );

  it(
    '{hostname}, {pid} and {time} are this host, this process and the moment of the connection',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      fixture = await Fixture.start({ banner: '{hostname} {pid} {time}' });
      const before = Date.now();
      const client = await fixture.connect();
      const head = `${hostname()} ${process.pid} `;
      assert.equal(await client.readText(head), head);
      const time = (await client.readText('2024-01-02T03:04:05.678Z\n')).trimEnd();
      const at = Date.parse(time);
      assert.ok(at >= before - 1000 && at <= Date.now(), `{time} ${time} is when the connection opened`);
    },
  );

  it(
    'banner escapes \\t \\n become bytes, and a banner already ending in a newline gets no second one',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      fixture = await Fixture.start({ banner: 'a\\tb\\n' });
      const client = await fixture.connect();
      await client.write('x\n');
      assert.equal(await client.readText('a\tb\nx\n'), 'a\tb\nx\n');
    },
  );

  it('{remote} and {proxy_source} name the client a PROXY header announced', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start({
      banner: '{remote} via [{proxy_source}]',
      listeners: [{ protocol: 'tcp', host: HOST, port: 0, proxyProtocol: 'optional' }],
    });
    const proxied = await fixture.client();
    await proxied.write('PROXY TCP4 203.0.113.7 192.0.2.1 40000 7\r\n');
    assert.equal(await proxied.readText('203.0.113.7:40000 via [203.0.113.7:40000]\n'), '203.0.113.7:40000 via [203.0.113.7:40000]\n');
    const direct = await fixture.client();
    await direct.write('hi\n');
    const banner = `${remoteOf(direct)} via []\n`;
    assert.equal(await direct.readText(banner + 'hi\n'), banner + 'hi\n', 'no header: the socket peer, and an empty {proxy_source}');
  });

  it(
    'the prefix goes before every echoed line, however the lines arrive, and before the tail at half-close',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      fixture = await Fixture.start({ serverId: 'lab1', prefix: '[{server_id} {conn_id} {remote}] ', banner: 'welcome' });
      const client = await fixture.connect();
      const id = fixture.events.opened[0] as number;
      const p = `[lab1 ${id} ${remoteOf(client)}] `;
      assert.equal(await client.readText('welcome\n'), 'welcome\n', 'the banner is not prefixed');
      await client.write('one\ntwo\n');
      assert.equal(await client.readText(`${p}one\n${p}two\n`), `${p}one\n${p}two\n`, 'two lines in one write');
      await client.write('thr');
      await client.write('ee\n\n');
      assert.equal(await client.readText(`${p}three\n${p}\n`), `${p}three\n${p}\n`, 'a line split over writes, then an empty line');
      await client.write('tail');
      client.end();
      assert.equal((await client.readToEnd()).toString('latin1'), `${p}tail`, 'the unterminated tail, prefixed once, then EOF');
    },
  );

  it(
    'serverId is in stats, /stats and (as the CLI passes it) the server_id label of every series; it defaults to the host name',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      assert.equal(createEchoServer().stats.serverId, hostname());
      const admin = await AdminFixture.start({ serverId: 'lab1' }, { processMetrics: false, labels: { server_id: 'lab1' } });
      try {
        assert.equal(admin.echo.server.stats.serverId, 'lab1');
        const stats = JSON.parse((await admin.get('/stats')).body) as { serverId: string };
        assert.equal(stats.serverId, 'lab1');
        const scrape = parsePrometheus((await admin.get('/metrics')).body);
        assert.ok(scrape.samples.length > 0);
        for (const sample of scrape.samples) assert.equal(sample.labels.server_id, 'lab1', `${sample.name} carries server_id`);
      } finally {
        await admin.cleanup();
      }
    },
  );

  it(
    'an unknown placeholder in banner or prefix, or a bad serverId, is an InvalidOptionError naming the option',
    { timeout: TEST_TIMEOUT_MS },
    () => {
      const bad: [string, object][] = [
        ['banner', { banner: 'hello {hostnme}' }],
        ['banner', { banner: '{env}' }],
        ['prefix', { prefix: '{pid:x} ' }],
        ['prefix', { prefix: '{conn}' }],
        ['serverId', { serverId: '' }],
        ['banner', { banner: 42 }],
      ];
      for (const [option, options] of bad) {
        assert.throws(
          () => createEchoServer(options),
          (err: unknown) => err instanceof InvalidOptionError && err.code === 'ERR_ECHOD_INVALID_OPTION' && err.option === option,
          `${JSON.stringify(options)} is refused naming ${option}`,
        );
      }
    },
  );
});

describe('banner and server id (echod command)', () => {
  const { processes, clients, track, cleanup } = new Tracked();
  afterEach(cleanup);

  it(
    "--banner '{hostname} {pid}' greets with echod's host and pid; --server-id lab1 is on every log line, in /stats and on /metrics",
    { timeout: CLI_TIMEOUT_MS },
    async () => {
      const { echod, port, adminPort } = await startEchod(
        'node',
        ['--banner', '{hostname} {pid}', '--server-id', 'lab1', '--admin-port', '0'],
        track,
      );
      assert.ok(adminPort !== undefined);
      const client = await Client.connect(port);
      clients.push(client);
      localPort(client);
      const banner = `${hostname()} ${echod.pid}\n`;
      assert.equal(await client.readText(banner), banner);
      await client.write('after the banner\n');
      assert.equal(await client.readText('after the banner\n'), 'after the banner\n');
      client.end();
      assert.equal((await client.readToEnd()).toString(), '');
      const closed = await echod.closeOf(client);
      assert.equal(closed.bytesOut, banner.length + 'after the banner\n'.length);

      const stats = JSON.parse(await adminGet(adminPort, '/stats')) as { serverId: string };
      assert.equal(stats.serverId, 'lab1');
      const scrape = parsePrometheus(await adminGet(adminPort, '/metrics'));
      for (const sample of scrape.all('echod_connections_total')) assert.equal(sample.labels.server_id, 'lab1');
      assert.ok(echod.logs.length >= 4, 'listening, started, opened, closed at least');
      for (const line of echod.logs) assert.equal(line.serverId, 'lab1', `log line ${JSON.stringify(line.msg)} carries serverId`);
    },
  );

  it(
    '--banner or --prefix with an unknown placeholder exits 2 naming the flag, before anything listens',
    { timeout: CLI_TIMEOUT_MS },
    async () => {
      // Child processes, not main() in this one: these errors come after the CLI made its logger on fd 1.
      const runs = [
        ['--banner', '{hostnme}'],
        ['--prefix', '{nope} '],
      ].map(([flag = '', value = '']) => {
        const echod = new EchodProcess('node', ['--host', HOST, '--port', '0', '--log-format', 'json', flag, value]);
        processes.push(echod);
        return { flag, echod };
      });
      for (const { flag, echod } of runs) {
        assert.equal((await echod.exited(START_MS)).code, 2, `${flag}: ${echod.summary().join('\n')}`);
        assert.match(echod.stderr, new RegExp(`invalid ${flag}:`));
        assert.equal(echod.all('listening').length, 0, 'nothing listened');
      }
    },
  );
});
