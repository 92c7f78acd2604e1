// Several listeners on one server: tcp, udp, unix and tls at once, each echoing with its own
// mode; IPv6 and dual stack; bind failures that leave nothing behind (what a unix path may
// hold: unix-socket-file.test.ts); listener options refused with InvalidOptionError; and the
// CLI's repeatable --listen.
import assert from 'node:assert/strict';
import { createServer as createNetServer } from 'node:net';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { InvalidOptionError } from '../../src/core/errors.js';
import { parseListenUrl } from '../../src/config/listen-url.js';
import type { EchoServerOptions } from '../../src/config/options.js';
import { createEchoServer, type EchoServer } from '../../src/server/server.js';
import { Client, Fixture, HOST, WAIT_MS } from '../../testkit/clients.js';
import { type EchodProcess, startEchod } from '../../testkit/echod-process.js';
import { StreamClient } from '../../testkit/stream-client.js';
import { UdpClient } from '../../testkit/udp-client.js';
import { within } from '../../testkit/wait.js';

const TEST_TIMEOUT_MS = 15_000;
const CLI_TIMEOUT_MS = 30_000;
/** Small, so a line-mode listener's limit shows against a raw one with a few bytes. */
const MAX_LINE_BYTES = 16;

type Address = EchoServer['addresses'][number];

function portOf(address: Address | undefined): number {
  assert.ok(address !== undefined && 'port' in address, `a network address: ${JSON.stringify(address)}`);
  return address.port;
}

describe('listeners', () => {
  let dir: string;
  let fixture: Fixture | undefined;
  const closers: (() => unknown)[] = [];
  const echods: EchodProcess[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'echod-listeners-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
    for (const echod of echods.splice(0)) await echod.stop();
    await fixture?.cleanup();
    fixture = undefined;
  });

  async function start(options: EchoServerOptions): Promise<Fixture> {
    fixture = await Fixture.start(options);
    return fixture;
  }

  function track<T extends { destroy?(): void; close?(): unknown }>(client: T): T {
    closers.push(() => (client.destroy !== undefined ? client.destroy() : client.close?.()));
    return client;
  }

  describe('tcp, udp, unix and tls on one server', () => {
    const all = (path: string): EchoServerOptions => ({
      listeners: [
        { protocol: 'tcp', host: HOST, port: 0, mode: 'line' },
        { protocol: 'udp', host: HOST, port: 0 },
        { protocol: 'unix', path, mode: 'raw' },
        { protocol: 'tls', host: HOST, port: 0 },
      ],
      tls: { selfSigned: true },
      maxLineBytes: MAX_LINE_BYTES,
    });

    it('lists every listener in `addresses`, and each one echoes', { timeout: TEST_TIMEOUT_MS }, async () => {
      const path = join(dir, 'all.sock');
      const { server, events } = await start(all(path));
      const byProtocol = new Map(server.addresses.map((address) => [address.protocol, address]));
      assert.equal(server.addresses.length, 4);
      assert.deepEqual([...byProtocol.keys()].sort(), ['tcp', 'tls', 'udp', 'unix']);
      const tcp = byProtocol.get('tcp');
      const udp = byProtocol.get('udp');
      const tls = byProtocol.get('tls');
      assert.deepEqual(byProtocol.get('unix'), { protocol: 'unix', path });
      for (const address of [tcp, udp, tls]) {
        assert.ok(address !== undefined && 'port' in address);
        assert.equal(address.address, HOST);
        assert.equal(address.family, 'IPv4');
        assert.ok(address.port > 0);
      }
      assert.equal(new Set([portOf(tcp), portOf(tls)]).size, 2, 'two stream listeners, two ports');
      assert.ok(statSync(path).isSocket());

      const tcpClient = track(await Client.connect(portOf(tcp)));
      await tcpClient.write('over tcp\n');
      assert.equal(await tcpClient.readText('over tcp\n'), 'over tcp\n');

      const udpClient = track(await UdpClient.bind(HOST));
      await udpClient.send(Buffer.from('over udp'), portOf(udp), HOST);
      assert.equal((await udpClient.replies(1))[0]?.data.toString(), 'over udp');

      const unixClient = track(await StreamClient.unix(path));
      await unixClient.write('over unix');
      assert.equal((await unixClient.read('over unix'.length)).toString(), 'over unix');

      const tlsClient = track(await StreamClient.tls(portOf(tls)));
      // Lines longer than maxLineBytes close a line-mode connection: short ones.
      const lines = Buffer.from('a\nbb\nccc\n');
      await tlsClient.write(lines);
      assert.ok((await tlsClient.read(lines.length)).equals(lines));

      for (const client of [tcpClient, unixClient, tlsClient]) client.end();
      const summaries = await events.closed(3);
      assert.deepEqual(summaries.map((summary) => summary.listener.split(':')[0]).sort(), ['tcp', 'tls', 'unix']);
      assert.equal(server.stats.udp.echoed, 1);
      assert.equal(server.stats.connections.total, 3);
    });

    it('`addresses` keeps the configured order', { timeout: TEST_TIMEOUT_MS }, async () => {
      const path = join(dir, 'order.sock');
      const { server } = await start(all(path));
      assert.deepEqual(
        server.addresses.map((address) => address.protocol),
        ['tcp', 'udp', 'unix', 'tls'],
      );
    });

    it("mode 'raw' on one listener and 'line' on another behave differently on the same server", { timeout: TEST_TIMEOUT_MS }, async () => {
      const path = join(dir, 'modes.sock');
      const { server, events } = await start(all(path));
      const tcpPort = portOf(server.addresses.find((address) => address.protocol === 'tcp'));
      const long = 'x'.repeat(MAX_LINE_BYTES * 2);

      // raw: every byte comes back as it arrives, no newline needed, no line limit.
      const raw = track(await StreamClient.unix(path));
      await raw.write(long);
      assert.equal((await raw.read(long.length)).toString(), long);
      // line: nothing without a newline; a line over maxLineBytes closes the connection.
      const line = track(await Client.connect(tcpPort));
      await line.write('short\n');
      assert.equal(await line.readText('short\n'), 'short\n');
      await line.write(long);
      assert.equal((await line.readToEnd()).length, 0, 'the over-long line is not echoed');

      raw.end();
      assert.equal((await raw.readToEnd()).length, 0);
      const summaries = await events.closed(2);
      const lineSummary = summaries.find((summary) => summary.listener.startsWith('tcp://'));
      const rawSummary = summaries.find((summary) => summary.listener.startsWith('unix://'));
      assert.equal(lineSummary?.reason, 'line_too_long');
      assert.equal(lineSummary?.lines, 1);
      assert.equal(rawSummary?.reason, 'client_closed');
      assert.equal(rawSummary?.lines, 0);
      assert.equal(rawSummary?.bytesSent, long.length);
    });

    it('close() stops every listener and removes the unix socket file', { timeout: TEST_TIMEOUT_MS }, async () => {
      const path = join(dir, 'closing.sock');
      const { server } = await start(all(path));
      const tcpPort = portOf(server.addresses.find((address) => address.protocol === 'tcp'));
      const udpPort = portOf(server.addresses.find((address) => address.protocol === 'udp'));
      await within(server.close(), WAIT_MS, 'close()');
      assert.deepEqual(server.addresses, []);
      assert.equal(existsSync(path), false, 'the socket file is gone');
      const probe = createNetServer();
      probe.listen({ host: HOST, port: tcpPort });
      await once(probe, 'listening');
      await new Promise((resolve) => probe.close(resolve));
      const udpProbe = track(await UdpClient.bind(HOST, udpPort));
      assert.equal(udpProbe.port, udpPort);
    });
  });

  describe('IPv6', () => {
    it('a listener on ::1 serves an IPv6 client', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { server, events } = await start({ listeners: [parseListenUrl('tcp://[::1]:0')] });
      const [address] = server.addresses;
      assert.ok(address !== undefined && 'family' in address);
      assert.equal(address.address, '::1');
      assert.equal(address.family, 'IPv6');
      const client = track(await Client.connect(address.port, { host: '::1' }));
      await client.write('six\n');
      assert.equal(await client.readText('six\n'), 'six\n');
      client.end();
      const [summary] = await events.closed(1);
      assert.equal(summary?.remoteAddress, '::1');
      assert.match(summary?.listener ?? '', /^tcp:\/\/\[::1\]:/);
    });

    it('dual stack: a listener on :: serves IPv4 and IPv6 clients', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { server, events } = await start({ listeners: [parseListenUrl('tcp://[::]:0')] });
      const port = portOf(server.addresses[0]);
      const v4 = track(await Client.connect(port, { host: '127.0.0.1' }));
      await v4.write('four\n');
      assert.equal(await v4.readText('four\n'), 'four\n');
      v4.end();
      const [v4Summary] = await events.closed(1);
      assert.ok(['::ffff:127.0.0.1', '127.0.0.1'].includes(v4Summary?.remoteAddress ?? ''), `an IPv4 client: ${v4Summary?.remoteAddress}`);

      const v6 = track(await Client.connect(port, { host: '::1' }));
      await v6.write('six\n');
      assert.equal(await v6.readText('six\n'), 'six\n');
      v6.end();
      const [, v6Summary] = await events.closed(2);
      assert.equal(v6Summary?.remoteAddress, '::1');
    });
  });

  describe('listener options', () => {
    function refused(options: EchoServerOptions, option: string): void {
      assert.throws(
        () => createEchoServer(options),
        (err: unknown) => {
          assert.ok(err instanceof InvalidOptionError, String(err));
          assert.equal(err.code, 'ERR_ECHOD_INVALID_OPTION');
          assert.equal(err.option, option);
          return true;
        },
      );
    }

    it('tls takes a PROXY protocol setting as tcp does (served in proxy-tls.test.ts)', { timeout: TEST_TIMEOUT_MS }, () => {
      for (const proxyProtocol of ['off', 'optional', 'required'] as const) {
        const server = createEchoServer({
          listeners: [
            { protocol: 'tcp', host: HOST, port: 0 },
            { protocol: 'tls', host: HOST, port: 0, proxyProtocol },
          ],
          tls: { selfSigned: true },
        });
        assert.deepEqual(
          server.options.listeners.map((listener) => [listener.protocol, listener.proxyProtocol]),
          [
            ['tcp', 'off'],
            ['tls', proxyProtocol],
          ],
        );
      }
      refused(
        { listeners: [{ protocol: 'tls', host: HOST, port: 0, proxyProtocol: 'always' as 'required' }], tls: { selfSigned: true } },
        'listeners[0].proxyProtocol',
      );
      // A tls listener needs certificates, with a PROXY protocol or without.
      refused({ listeners: [{ protocol: 'tls', host: HOST, port: 0, proxyProtocol: 'required' }] }, 'tls');
    });

    it('other listener mistakes name the listener and the field', { timeout: TEST_TIMEOUT_MS }, () => {
      refused({ listeners: [{ protocol: 'udp', host: HOST, port: 0, proxyProtocol: 'optional' }] }, 'listeners[0].proxyProtocol');
      refused({ listeners: [{ protocol: 'tls', host: HOST, port: 0 }] }, 'tls');
      refused({ listeners: [{ protocol: 'unix', path: 'relative.sock' }] }, 'listeners[0].path');
      refused({ listeners: [{ protocol: 'tcp', host: HOST, port: 65_536 }] }, 'listeners[0].port');
      refused({ listeners: [{ protocol: 'sctp' as 'tcp', host: HOST, port: 0 }] }, 'listeners[0].protocol');
      refused({ listeners: [{ protocol: 'tcp', host: HOST, port: 0, mode: 'chunked' as 'raw' }] }, 'listeners[0].mode');
      refused({ listeners: [] }, 'listeners');
      refused({ listeners: [{ protocol: 'tcp', host: 'not a host', port: 0 }] }, 'listeners[0].host');
      refused({ listeners: [{ protocol: 'tcp', fd: 2 }] }, 'listeners[0].fd');
      refused({ listeners: [{ protocol: 'tls', host: HOST, port: 0 }], tls: { cert: 'x' } }, 'tls');
      refused({ listeners: [{ protocol: 'tls', host: HOST, port: 0 }], tls: { selfSigned: true, clientAuth: 'require' } }, 'tls.ca');
    });

    it('a bind that fails closes the listeners already bound, and listen() rejects', { timeout: TEST_TIMEOUT_MS }, async () => {
      const taken = createNetServer();
      taken.listen({ host: HOST, port: 0 });
      await once(taken, 'listening');
      closers.push(() => new Promise((resolve) => taken.close(resolve)));
      const busyPort = (taken.address() as { port: number }).port;
      const path = join(dir, 'rollback.sock');
      const server = createEchoServer({
        listeners: [
          { protocol: 'unix', path },
          { protocol: 'tcp', host: HOST, port: busyPort },
        ],
      });
      await assert.rejects(server.listen(), (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE');
      assert.equal(server.state, 'closed');
      assert.equal(existsSync(path), false, 'the unix listener bound first was closed again');
      await server.close();
    });
  });

  describe('the connection summary names its listener', () => {
    it('by its bound address, so two listeners on port 0 can be told apart', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { server, events } = await start({
        listeners: [
          { protocol: 'tcp', host: HOST, port: 0, mode: 'line' },
          { protocol: 'tcp', host: HOST, port: 0, mode: 'raw' },
        ],
      });
      const ports = server.addresses.map(portOf);
      for (const port of ports) {
        const client = track(await Client.connect(port));
        await client.write('hi\n');
        await client.readText('hi\n');
        client.end();
      }
      const summaries = await events.closed(2);
      assert.deepEqual(summaries.map((summary) => summary.listener).sort(), ports.map((port) => `tcp://${HOST}:${port}`).sort());
    });
  });

  describe('the CLI', () => {
    it('serves every --listen URL (tcp with ?mode=raw, udp, unix), each logged as listening', { timeout: CLI_TIMEOUT_MS }, async () => {
      const path = join(dir, 'cli.sock');
      const { echod, port } = await startEchod(
        'node',
        ['--listen', `tcp://${HOST}:0?mode=raw`, '--listen', `udp://${HOST}:0`, '--listen', `unix://${path}`],
        (started) => echods.push(started),
      );
      await echod.until(() => echod.all('listening').length === 3, 'three listening lines');
      const listening = echod.all('listening');
      const byListener = (prefix: string): (typeof listening)[number] | undefined =>
        listening.find((line) => String(line.listener).startsWith(prefix));
      assert.equal(byListener('tcp://')?.port, port);
      assert.equal(byListener('tcp://')?.mode, 'raw');
      const udpPort = byListener('udp://')?.port;
      assert.equal(typeof udpPort, 'number');
      assert.equal(byListener('unix://')?.path, path);

      const tcp = track(await Client.connect(port));
      await tcp.write('no newline');
      assert.equal(await tcp.readText('no newline'), 'no newline', 'raw mode from ?mode=raw');
      const udp = track(await UdpClient.bind(HOST));
      await udp.send(Buffer.from('datagram'), udpPort as number, HOST);
      assert.equal((await udp.replies(1))[0]?.data.toString(), 'datagram');
      const unix = track(await StreamClient.unix(path));
      await unix.write('unix line\n');
      assert.equal((await unix.read(10)).toString(), 'unix line\n');

      tcp.end();
      unix.end();
      echod.signal('SIGTERM');
      assert.deepEqual(await echod.exited(), { code: 0, signal: null });
    });
  });
});
