// The PROXY protocol on real tcp (and unix) listeners: the header's source becomes the
// client's address (the balancer is kept as `via`), the header is never echoed but what
// follows it is, headers split anyhow parse, `optional` and `required` do what they say,
// malformed or unfinished headers are refused with a reason, and per-address limits apply to
// the address the header names. The parser itself is tested in proxy-protocol.test.ts.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as turn } from 'node:timers/promises';
import { after, afterEach, before, describe, it } from 'node:test';
import type { ProxyProtocolMode } from '../../src/config/listen-url.js';
import type { EchoServerOptions } from '../../src/config/options.js';
import type { RejectReason } from '../../src/core/stats.js';
import { Client, Fixture, HOST, WAIT_MS } from '../../testkit/clients.js';
import { type EchodProcess, localPort, startEchod } from '../../testkit/echod-process.js';
import { addresses, authorityTlv, FAMILY, v1, v2 } from '../../testkit/proxy-headers.js';
import { RecordingLogger } from '../../testkit/recording-logger.js';
import { assertRefusals } from '../../testkit/refusals.js';
import { StreamClient } from '../../testkit/stream-client.js';
import { Waiters } from '../../testkit/wait.js';

const TEST_TIMEOUT_MS = 10_000;
const CLI_TIMEOUT_MS = 30_000;
/** Short, so the timeout tests are quick; long enough for any loopback header to arrive. */
const HEADER_TIMEOUT_MS = 300;
const SOCAT = spawnSync('socat', ['-V']).status === 0;

describe('PROXY protocol on stream listeners', () => {
  let fixture: Fixture | undefined;
  let logger: RecordingLogger;
  const extraClients: (StreamClient | Client)[] = [];
  const echods: EchodProcess[] = [];
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'echod-proxy-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    for (const client of extraClients.splice(0)) client.destroy();
    for (const echod of echods.splice(0)) await echod.stop();
    await fixture?.cleanup();
    fixture = undefined;
  });

  async function start(proxyProtocol: ProxyProtocolMode, extra: EchoServerOptions = {}): Promise<Fixture> {
    logger = new RecordingLogger();
    fixture = await Fixture.start({
      listeners: [{ protocol: 'tcp', host: HOST, port: 0, proxyProtocol }],
      proxyProtocolTimeoutMs: HEADER_TIMEOUT_MS,
      logger,
      ...extra,
    });
    return fixture;
  }

  /** A connected client, not yet accepted by the server (it may be refused). */
  function client(): Promise<Client> {
    return (fixture as Fixture).client();
  }

  function localPortOf(client: Client): number {
    return client.socket.localPort as number;
  }

  /** Sends `header` and `data` in one write; asserts exactly `data` comes back, then ends, and nothing more comes. */
  async function echoesAfter(client: Client, header: Buffer, data: string): Promise<void> {
    await client.write(Buffer.concat([header, Buffer.from(data, 'latin1')]));
    assert.equal(await client.readText(data), data, 'the bytes after the header are echoed');
    client.end();
    assert.equal((await client.readToEnd()).length, 0, 'the header is never echoed');
  }

  /** Asserts the server refused `client` for `reason`: nothing echoed, closed, counted, logged with a detail. */
  async function assertRefused(client: Client, reason: RejectReason, count = 1): Promise<Record<string, unknown>> {
    await client.waitClosed();
    assert.equal(client.pendingBytes, 0, 'a refused client gets nothing echoed');
    return assertRefusals(fixture as Fixture, logger, reason, count);
  }

  describe('headers', () => {
    it(
      "v1 TCP4: the client is the header's source, the balancer is `via`, the data after the header is echoed",
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const { events } = await start('required');
        const opened: [number, string, number][] = [];
        fixture?.server.on('connection', (id, address, port) => opened.push([id, address, port]));
        const balancer = await client();
        const balancerPort = localPortOf(balancer);
        await echoesAfter(balancer, v1('TCP4', '203.0.113.7', '198.51.100.1', 41_234, 7), 'hello through the balancer\n');
        const [summary] = await events.closed(1);
        assert.equal(summary?.remoteAddress, '203.0.113.7');
        assert.equal(summary?.remotePort, 41_234);
        assert.deepEqual(summary?.via, { address: HOST, port: balancerPort });
        assert.equal(summary?.bytesSent, 'hello through the balancer\n'.length);
        assert.equal(summary?.bytesReceived, 'hello through the balancer\n'.length, "the client's bytes: the header is not counted");
        assert.deepEqual(opened, [[summary?.id, '203.0.113.7', 41_234]]);

        const open = await logger.next('connection opened');
        assert.equal(open.fields.remote, '203.0.113.7');
        assert.equal(open.fields.remotePort, 41_234);
        assert.deepEqual(open.fields.via, { address: HOST, port: balancerPort });
        const proxy = open.fields.proxy as { version: number; destination: unknown };
        assert.equal(proxy.version, 1);
        assert.deepEqual(proxy.destination, { address: '198.51.100.1', port: 7 });
        const close = await logger.next('connection closed');
        assert.equal(close.fields.remote, '203.0.113.7');
        assert.equal(close.fields.remotePort, 41_234);
        assert.deepEqual(close.fields.via, { address: HOST, port: balancerPort });
      },
    );

    it('v1 TCP6', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { events } = await start('required');
      await echoesAfter(await client(), v1('TCP6', '2001:db8::1', '2001:db8::2', 50_000, 7), 'six\n');
      const [summary] = await events.closed(1);
      assert.equal(summary?.remoteAddress, '2001:db8::1');
      assert.equal(summary?.remotePort, 50_000);
    });

    it(
      "v2 TCP4 with a TLV: the client is the header's source, the data in the same packet is echoed",
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const { events } = await start('required');
        const balancer = await client();
        const balancerPort = localPortOf(balancer);
        const header = v2(
          0x21,
          FAMILY.TCP4,
          Buffer.concat([addresses('TCP4', '192.0.2.44', '192.0.2.1', 61_000, 7), authorityTlv('echo.example.com')]),
        );
        await echoesAfter(balancer, header, 'binary header, text line\n');
        const [summary] = await events.closed(1);
        assert.equal(summary?.bytesReceived, 'binary header, text line\n'.length, "the client's bytes: the header is not counted");
        assert.equal(summary?.remoteAddress, '192.0.2.44');
        assert.equal(summary?.remotePort, 61_000);
        assert.deepEqual(summary?.via, { address: HOST, port: balancerPort });
        const open = await logger.next('connection opened');
        const proxy = open.fields.proxy as { version: number; tlvs: { authority?: string } };
        assert.equal(proxy.version, 2);
        assert.equal(proxy.tlvs.authority, 'echo.example.com');
      },
    );

    it('v2 TCP6', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { events } = await start('required');
      await echoesAfter(await client(), v2(0x21, FAMILY.TCP6, addresses('TCP6', '2001:db8:0:1::5', '2001:db8::1', 1234, 7)), 'v2 six\n');
      const [summary] = await events.closed(1);
      assert.equal(summary?.remoteAddress, '2001:db8:0:1::5');
      assert.equal(summary?.remotePort, 1234);
    });

    for (const [name, header] of [
      ['v1', v1('TCP4', '198.51.100.9', '198.51.100.1', 4444, 7)],
      ['v2', v2(0x21, FAMILY.TCP4, addresses('TCP4', '198.51.100.9', '198.51.100.1', 4444, 7))],
    ] as const) {
      it(`a ${name} header sent byte by byte parses`, { timeout: TEST_TIMEOUT_MS }, async () => {
        const { events } = await start('required');
        const balancer = await client();
        for (const byte of header) {
          await balancer.write(Buffer.from([byte]));
          // Let the server's reads run between bytes, so it sees the header in pieces.
          await turn();
          await turn();
        }
        assert.equal(balancer.closed, false, 'not refused part-way');
        await echoesAfter(balancer, Buffer.alloc(0), 'slowly\n');
        const [summary] = await events.closed(1);
        assert.equal(summary?.remoteAddress, '198.51.100.9');
        assert.equal(summary?.remotePort, 4444);
      });
    }

    it('the bytes after the header may arrive later, and come back exactly once', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { events } = await start('required', { mode: 'raw' });
      const balancer = await client();
      await balancer.write(v1('TCP4', '198.51.100.10', '198.51.100.1', 5555, 7));
      await events.opens(1);
      await balancer.write('later');
      assert.equal(await balancer.readText('later'), 'later');
      balancer.end();
      assert.equal((await balancer.readToEnd()).length, 0);
    });
  });

  describe("'optional'", () => {
    it(
      'serves clients without a header, with a v1 or v2 header, and a v2 LOCAL health check, on one port',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const { events } = await start('optional');
        const plain = await client();
        const plainPort = localPortOf(plain);
        await echoesAfter(plain, Buffer.alloc(0), 'no header at all\n');
        const withV1 = await client();
        const v1Port = localPortOf(withV1);
        await echoesAfter(withV1, v1('TCP4', '203.0.113.50', '203.0.113.1', 6000, 7), 'v1\n');
        const withV2 = await client();
        const v2Port = localPortOf(withV2);
        await echoesAfter(withV2, v2(0x21, FAMILY.TCP4, addresses('TCP4', '203.0.113.51', '203.0.113.1', 6001, 7)), 'v2\n');
        const health = await client();
        const healthPort = localPortOf(health);
        await echoesAfter(health, v2(0x20, FAMILY.UNSPEC), 'LOCAL\n');
        const unknown = await client();
        const unknownPort = localPortOf(unknown);
        await echoesAfter(unknown, Buffer.from('PROXY UNKNOWN\r\n'), 'UNKNOWN\n');

        const summaries = await events.closed(5);
        const seen = (summary: (typeof summaries)[number]): [string, number, number | null] => [
          summary.remoteAddress,
          summary.remotePort,
          summary.via?.port ?? null,
        ];
        assert.deepEqual(summaries.map(seen), [
          [HOST, plainPort, null],
          ['203.0.113.50', 6000, v1Port],
          ['203.0.113.51', 6001, v2Port],
          [HOST, healthPort, null], // LOCAL: the connection's own address stands
          [HOST, unknownPort, null], // UNKNOWN: likewise
        ]);
        assert.deepEqual(events.rejects, []);
      },
    );

    it('a client that sends nothing is closed after proxyProtocolTimeoutMs', { timeout: TEST_TIMEOUT_MS }, async () => {
      await start('optional');
      const started = performance.now();
      const silent = await client();
      const detail = (await assertRefused(silent, 'proxy_protocol_error')).detail;
      assert.equal(typeof detail, 'string');
      assert.ok(performance.now() - started >= HEADER_TIMEOUT_MS - 5, 'not before the timeout');
    });
  });

  describe("'required'", () => {
    it('refuses a client without a header: proxy_protocol_error, counted, logged with a detail', { timeout: TEST_TIMEOUT_MS }, async () => {
      await start('required');
      const direct = await client();
      const directPort = localPortOf(direct);
      await direct.write('GET / HTTP/1.0\r\n\r\n');
      const line = await assertRefused(direct, 'proxy_protocol_error');
      assert.equal(typeof line.detail, 'string');
      assert.notEqual(line.detail, '');
      assert.equal(line.remote, HOST);
      assert.equal(line.remotePort, directPort);
    });

    it("a v2 LOCAL health check is served with the connection's own address", { timeout: TEST_TIMEOUT_MS }, async () => {
      const { events } = await start('required');
      await echoesAfter(await client(), v2(0x20, FAMILY.UNSPEC), 'health\n');
      const [summary] = await events.closed(1);
      assert.equal(summary?.remoteAddress, HOST);
      assert.equal(summary?.via, null);
    });

    const malformed: [string, Buffer][] = [
      ['a v1 header with a port above 65535', v1('TCP4', '192.0.2.1', '192.0.2.2', 99_999, 7)],
      ['a v1 header with an IPv6 address under TCP4', Buffer.from('PROXY TCP4 2001:db8::1 192.0.2.2 1000 7\r\n')],
      ['a v1 header with too few fields', Buffer.from('PROXY TCP4 192.0.2.1 192.0.2.2 1000\r\n')],
      ['a v1 header longer than 107 bytes', Buffer.from(`PROXY TCP4 ${'9'.repeat(120)}\r\n`)],
      ['a v2 header of version 3', v2(0x31, FAMILY.TCP4, addresses('TCP4', '192.0.2.1', '192.0.2.2', 1000, 7))],
      ['a v2 header with an unknown command', v2(0x2f, FAMILY.TCP4, addresses('TCP4', '192.0.2.1', '192.0.2.2', 1000, 7))],
      ['a v2 TCP4 header too short for its addresses', v2(0x21, FAMILY.TCP4, Buffer.alloc(4))],
    ];
    for (const [name, header] of malformed) {
      it(`refuses ${name}, with a detail`, { timeout: TEST_TIMEOUT_MS }, async () => {
        await start('required');
        const balancer = await client();
        await balancer.write(Buffer.concat([header, Buffer.from('data\n')])).catch(() => {});
        const line = await assertRefused(balancer, 'proxy_protocol_error');
        assert.equal(typeof line.detail, 'string');
        assert.notEqual(line.detail, '');
      });
    }

    it('a header that never completes is refused after proxyProtocolTimeoutMs (300 ms)', { timeout: TEST_TIMEOUT_MS }, async () => {
      await start('required');
      const started = performance.now();
      const stalled = await client();
      await stalled.write('PROXY TCP4 192.0.2.1 ');
      const line = await assertRefused(stalled, 'proxy_protocol_error');
      const elapsed = performance.now() - started;
      // The server's timer starts at accept, after `started`: it cannot fire sooner (a
      // millisecond of timer rounding allowed), and nothing else should delay it by seconds.
      assert.ok(elapsed >= HEADER_TIMEOUT_MS - 2, `refused after ${Math.round(elapsed)} ms, not before ${HEADER_TIMEOUT_MS}`);
      assert.ok(elapsed < HEADER_TIMEOUT_MS + 2000, `refused after ${Math.round(elapsed)} ms`);
      assert.match(String(line.detail), /300/, 'the detail names the timeout');
    });

    it('a client still sending its header holds a connection slot (maxConnections)', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { server, events } = await start('required', { maxConnections: 1 });
      const stalled = await client();
      await stalled.write('PROX');
      const next = await client();
      await next.write(Buffer.concat([v1('TCP4', '192.0.2.7', '192.0.2.1', 7000, 7), Buffer.from('x\n')]));
      await next.waitClosed();
      await events.until(() => events.rejects.includes('max_connections'), WAIT_MS, 'the second client to be refused');
      assert.equal(server.stats.connections.active, 0, 'a client reading its header is not an active connection');
      // Once the stalled one times out, its slot is free.
      await stalled.waitClosed();
      await events.until(() => events.rejects.includes('proxy_protocol_error'), WAIT_MS, 'the stalled client to be refused');
      const third = await client();
      await echoesAfter(third, v1('TCP4', '192.0.2.8', '192.0.2.1', 7001, 7), 'my turn\n');
      assert.deepEqual([...events.rejects].sort(), ['max_connections', 'proxy_protocol_error']);
    });
  });

  describe('limits', () => {
    it("maxConnectionsPerIp counts the address the header names, not the balancer's", { timeout: TEST_TIMEOUT_MS }, async () => {
      const { server, events } = await start('required', { maxConnectionsPerIp: 1 });
      const rejectedAddresses: string[] = [];
      server.on('reject', (_reason, address) => rejectedAddresses.push(address));
      const alice = await client();
      await alice.write(Buffer.concat([v1('TCP4', '198.51.100.1', '192.0.2.1', 1001, 7), Buffer.from('alice\n')]));
      assert.equal(await alice.readText('alice\n'), 'alice\n');
      const bob = await client();
      await bob.write(Buffer.concat([v1('TCP4', '198.51.100.2', '192.0.2.1', 1002, 7), Buffer.from('bob\n')]));
      assert.equal(await bob.readText('bob\n'), 'bob\n', 'another client behind the same balancer is served');

      const aliceAgain = await client();
      await aliceAgain
        .write(Buffer.concat([v1('TCP4', '198.51.100.1', '192.0.2.1', 1003, 7), Buffer.from('alice again\n')]))
        .catch(() => {});
      await aliceAgain.waitClosed();
      assert.equal(aliceAgain.pendingBytes, 0);
      await events.until(() => events.rejects.length === 1, WAIT_MS, 'the second connection from 198.51.100.1 to be refused');
      assert.deepEqual(events.rejects, ['max_connections_per_ip']);
      assert.deepEqual(rejectedAddresses, ['198.51.100.1']);
      assert.equal(server.stats.connections.rejected.max_connections_per_ip, 1);
      const line = await logger.next('connection rejected');
      assert.equal(line.fields.remote, '198.51.100.1');
      assert.equal(line.fields.via, HOST);

      // Alice's slot is freed by her close (counted by the header's address too).
      alice.end();
      await alice.readToEnd();
      await events.closed(1);
      const aliceLater = await client();
      await echoesAfter(aliceLater, v1('TCP4', '198.51.100.1', '192.0.2.1', 1004, 7), 'alice later\n');
      assert.equal(events.rejects.length, 1);
    });
  });

  describe('other stream listeners and clients', () => {
    it("a unix listener with proxy=required takes the client's address from the header", { timeout: TEST_TIMEOUT_MS }, async () => {
      logger = new RecordingLogger();
      const path = join(dir, 'proxied.sock');
      fixture = await Fixture.start({
        listeners: [{ protocol: 'unix', path, proxyProtocol: 'required' }],
        proxyProtocolTimeoutMs: HEADER_TIMEOUT_MS,
        logger,
      });
      const { events } = fixture;
      const balancer = await StreamClient.unix(path);
      extraClients.push(balancer);
      await balancer.write(Buffer.concat([v1('TCP6', '2001:db8::99', '2001:db8::1', 2222, 7), Buffer.from('over a unix socket\n')]));
      assert.equal((await balancer.read('over a unix socket\n'.length)).toString(), 'over a unix socket\n');
      balancer.end();
      assert.equal((await balancer.readToEnd()).length, 0);
      const [summary] = await events.closed(1);
      assert.equal(summary?.remoteAddress, '2001:db8::99');
      assert.equal(summary?.remotePort, 2222);
      assert.match(summary?.listener ?? '', /^unix:\/\//);
    });

    it(
      'socat fed a v1 header line, then data: the data comes back, the header does not',
      { timeout: TEST_TIMEOUT_MS, skip: SOCAT ? false : 'socat is not installed' },
      async () => {
        const { port, events } = await start('required');
        const socat = spawn('socat', ['-', `TCP:${HOST}:${port}`]);
        let stdout = '';
        let stderr = '';
        const waiters = new Waiters();
        socat.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString('latin1');
          waiters.notify();
        });
        socat.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        let exitCode: number | null = null;
        socat.on('close', (code) => {
          exitCode = code;
          waiters.notify();
        });
        try {
          socat.stdin.end('PROXY TCP4 192.0.2.200 192.0.2.1 3333 7\r\nfrom socat\n');
          await waiters.until(() => exitCode !== null, WAIT_MS, `socat to finish (stderr: ${stderr})`);
        } finally {
          if (socat.exitCode === null && socat.signalCode === null) socat.kill('SIGKILL');
        }
        assert.equal(exitCode, 0, stderr);
        assert.equal(stdout, 'from socat\n');
        const [summary] = await events.closed(1);
        assert.equal(summary?.remoteAddress, '192.0.2.200');
        assert.equal(summary?.remotePort, 3333);
        assert.equal(summary?.reason, 'client_closed');
      },
    );
  });
  describe('the CLI', () => {
    it('--proxy-protocol required applies to tcp:// listeners, not tls:// ones', { timeout: CLI_TIMEOUT_MS }, async () => {
      const { echod, port } = await startEchod(
        'node',
        ['--listen', `tcp://${HOST}:0`, '--listen', `tls://${HOST}:0`, '--tls-self-signed', '--proxy-protocol', 'required'],
        (started) => echods.push(started),
      );
      await echod.until(() => echod.all('listening').length === 2, 'two listening lines');
      const tlsLine = echod.all('listening').find((line) => String(line.listener).startsWith('tls://'));
      assert.equal(echod.all('listening').find((line) => line.port === port)?.proxyProtocol, 'required');
      assert.equal(tlsLine?.proxyProtocol, 'off');

      const balancer = await Client.connect(port);
      extraClients.push(balancer);
      const balancerPort = localPort(balancer);
      await balancer.write(Buffer.concat([v1('TCP4', '198.51.100.77', '198.51.100.1', 7777, 7), Buffer.from('via the cli\n')]));
      assert.equal(await balancer.readText('via the cli\n'), 'via the cli\n');
      balancer.end();
      await balancer.readToEnd();
      const closed = await echod.log(
        (line) => line.msg === 'connection closed' && line.remotePort === 7777,
        'the close of the proxied connection',
      );
      assert.equal(closed.remote, '198.51.100.77');
      assert.deepEqual(closed.via, { address: HOST, port: balancerPort });

      const direct = await StreamClient.tls(tlsLine?.port as number);
      extraClients.push(direct);
      await direct.write('tls, no header\n');
      assert.equal((await direct.read('tls, no header\n'.length)).toString(), 'tls, no header\n');
      direct.end();

      echod.signal('SIGTERM');
      assert.deepEqual(await echod.exited(), { code: 0, signal: null });
    });
  });
});
