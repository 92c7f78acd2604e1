// Limits for sockets accepted but not yet served — in their TLS handshake, or reading their
// PROXY header: --max-connections-per-ip counts them from accept under their own address (then
// under the client a PROXY header names, re-checked), so one address's silent sockets cannot
// take every --max-connections slot; and a client that closes (FIN or RST) before it is served
// frees its slot at once, not when the handshake or header times out. Through the library
// under Node, and through the binary under Node and Bun. The rules themselves (admission.ts)
// are unit-tested in admission.test.ts.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { ListenerOptions } from '../../src/config/listen-url.js';
import type { EchoServerOptions } from '../../src/config/options.js';
import { Client, Fixture, HOST, WAIT_MS } from '../../testkit/clients.js';
import { type EchodProcess, RUNTIMES, startEchod, untilStats } from '../../testkit/echod-process.js';
import { v1 } from '../../testkit/proxy-headers.js';
import { StreamClient } from '../../testkit/stream-client.js';

const TEST_TIMEOUT_MS = 30_000;
const CLI_TIMEOUT_MS = 60_000;
/** The flood of the issue: this many silent sockets from one address. */
const FLOOD = 300;
const PER_IP = 10;
/** Another loopback address, so a bystander is not the flood's address. */
const HOST6 = '::1';
/** Far past every wait here: a slot freed only by this timeout is not freed "at once". */
const LONG_TIMEOUT_MS = 60_000;

describe('sockets not yet served (TLS handshake, PROXY header)', () => {
  let fixture: Fixture | undefined;
  const streams: StreamClient[] = [];
  const echods: EchodProcess[] = [];
  afterEach(async () => {
    for (const client of streams.splice(0)) client.destroy();
    for (const echod of echods.splice(0)) await echod.stop();
    await fixture?.cleanup();
    fixture = undefined;
  });

  /** A server with the same listener on 127.0.0.1 and on ::1; resolves to the two ports. */
  async function start(
    listener: Omit<ListenerOptions, 'host' | 'port'>,
    extra: EchoServerOptions,
  ): Promise<{ port: number; port6: number }> {
    fixture = await Fixture.start({
      listeners: [
        { ...listener, host: HOST, port: 0 },
        { ...listener, host: HOST6, port: 0 },
      ],
      ...extra,
    });
    const port6 = fixture.server.addresses[1];
    assert.ok(port6 !== undefined && 'port' in port6);
    return { port: fixture.port, port6: port6.port };
  }

  async function tlsClient(port: number, host: string): Promise<StreamClient> {
    const client = await StreamClient.tls(port, { host });
    streams.push(client);
    return client;
  }

  async function tlsEchoes(client: StreamClient, text: string): Promise<void> {
    await client.write(text);
    assert.equal((await client.read(text.length)).toString(), text);
  }

  /** `FLOOD` sockets from 127.0.0.1 that connect and send nothing. */
  async function flood(f: Fixture): Promise<Client[]> {
    const silent: Client[] = [];
    for (let i = 0; i < FLOOD; i++) silent.push(await f.client());
    return silent;
  }

  describe('--max-connections-per-ip from accept', () => {
    it(
      `tls: ${FLOOD} silent sockets from one address are held ${PER_IP} at most; another address is served`,
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const { port6 } = await start(
          { protocol: 'tls' },
          { tls: { selfSigned: true }, maxConnections: FLOOD, maxConnectionsPerIp: PER_IP },
        );
        const f = fixture as Fixture;
        await flood(f);
        await f.events.until(() => f.events.rejects.length >= FLOOD - PER_IP, WAIT_MS, `${FLOOD - PER_IP} refusals`);
        assert.equal(f.server.stats.connections.rejected.max_connections_per_ip, FLOOD - PER_IP);
        assert.equal(f.server.stats.connections.rejected.max_connections, 0);
        await tlsEchoes(await tlsClient(port6, HOST6), 'a bystander\n');
        assert.equal(f.server.stats.connections.rejected.max_connections, 0);
      },
    );

    it(`tcp ?proxy=optional: the same, while the sockets wait for a header`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const { port6 } = await start(
        { protocol: 'tcp', proxyProtocol: 'optional' },
        { maxConnections: FLOOD, maxConnectionsPerIp: PER_IP, proxyProtocolTimeoutMs: LONG_TIMEOUT_MS },
      );
      const f = fixture as Fixture;
      await flood(f);
      await f.events.until(() => f.events.rejects.length >= FLOOD - PER_IP, WAIT_MS, `${FLOOD - PER_IP} refusals`);
      assert.deepEqual(new Set(f.events.rejects), new Set(['max_connections_per_ip']));
      const bystander = await Client.connect(port6, { host: HOST6 });
      f.clients.push(bystander);
      await bystander.write('no header\n');
      assert.equal(await bystander.readText('no header\n'), 'no header\n');
      assert.equal(f.server.stats.connections.rejected.max_connections, 0);
    });

    it('a PROXY header moves the slot to the client it names, re-checked there', { timeout: TEST_TIMEOUT_MS }, async () => {
      await start({ protocol: 'tcp', proxyProtocol: 'required' }, { maxConnectionsPerIp: 2, proxyProtocolTimeoutMs: LONG_TIMEOUT_MS });
      const f = fixture as Fixture;
      // The balancer's address: two sockets waiting for their header, a third refused.
      const first = await f.client();
      const second = await f.client();
      await f.client();
      await f.events.until(() => f.events.rejects.length === 1, WAIT_MS, 'the third socket to be refused');
      assert.deepEqual(f.events.rejects, ['max_connections_per_ip']);
      // The first names 198.51.100.1: its slot leaves 127.0.0.1, so the balancer has room again.
      await first.write(Buffer.concat([v1('TCP4', '198.51.100.1', '192.0.2.1', 1001, 7), Buffer.from('one\n')]));
      assert.equal(await first.readText('one\n'), 'one\n');
      const third = await f.client();
      // 198.51.100.1 has one of its two: the second naming it too is served, a third is refused.
      await second.write(Buffer.concat([v1('TCP4', '198.51.100.1', '192.0.2.1', 1002, 7), Buffer.from('two\n')]));
      assert.equal(await second.readText('two\n'), 'two\n');
      await third.write(Buffer.concat([v1('TCP4', '198.51.100.1', '192.0.2.1', 1003, 7), Buffer.from('three\n')]));
      await third.waitClosed();
      assert.equal(third.pendingBytes, 0);
      assert.deepEqual(f.events.rejects, ['max_connections_per_ip', 'max_connections_per_ip']);
      assert.equal(f.server.stats.connections.active, 2);
    });
  });

  describe('a client that closes before it is served frees its slot at once', () => {
    for (const how of ['FIN', 'RST'] as const) {
      it(`tls: ${how} mid-handshake`, { timeout: TEST_TIMEOUT_MS }, async () => {
        const { port } = await start({ protocol: 'tls' }, { tls: { selfSigned: true }, maxConnections: 1 });
        const f = fixture as Fixture;
        const quitter = await f.client();
        await quitter.write(Buffer.from([0x16, 0x03, 0x01])); // the start of a ClientHello
        if (how === 'FIN') quitter.end();
        else quitter.socket.resetAndDestroy();
        // Well within the 10 s handshake timeout that used to free it.
        await f.events.until(() => f.events.rejects.includes('tls_error'), WAIT_MS, 'the handshake to be given up');
        await tlsEchoes(await tlsClient(port, HOST), 'my turn\n');
        assert.deepEqual(f.events.rejects, ['tls_error']);
      });
    }

    it('tcp ?proxy=required: FIN before the header is complete', { timeout: TEST_TIMEOUT_MS }, async () => {
      await start({ protocol: 'tcp', proxyProtocol: 'required' }, { maxConnections: 1, proxyProtocolTimeoutMs: LONG_TIMEOUT_MS });
      const f = fixture as Fixture;
      const quitter = await f.client();
      await quitter.write('PROXY TCP4 198.51');
      quitter.end();
      await f.events.until(() => f.events.rejects.includes('proxy_protocol_error'), WAIT_MS, 'the header to be given up');
      const next = await f.client();
      await next.write(Buffer.concat([v1('TCP4', '198.51.100.7', '192.0.2.1', 7000, 7), Buffer.from('my turn\n')]));
      assert.equal(await next.readText('my turn\n'), 'my turn\n');
      assert.deepEqual(f.events.rejects, ['proxy_protocol_error']);
    });
  });

  for (const runtime of RUNTIMES) {
    describe(`the CLI under ${runtime}`, () => {
      /** echod with a tcp listener (the runtime's own transport), and tls on 127.0.0.1 and ::1. */
      async function startTls(flags: string[]): Promise<{ echod: EchodProcess; adminPort: number; tls: number; tls6: number }> {
        const args = [
          '--listen',
          `tcp://${HOST}:0`,
          '--listen',
          `tls://${HOST}:0`,
          '--listen',
          `tls://[${HOST6}]:0`,
          '--tls-self-signed',
          '--admin-port',
          '0',
          ...flags,
        ];
        const { echod, adminPort } = await startEchod(runtime, args, (started) => echods.push(started));
        await echod.until(() => echod.all('listening').length === 3, 'three listening lines');
        const tlsLines = echod.all('listening').filter((line) => String(line.listener).startsWith('tls://'));
        const portOf = (host: string): number => tlsLines.find((line) => line.address === host)?.port as number;
        return { echod, adminPort: adminPort as number, tls: portOf(HOST), tls6: portOf(HOST6) };
      }

      it(`tls: ${FLOOD} silent sockets from one address cannot lock out another`, { timeout: CLI_TIMEOUT_MS }, async () => {
        const { adminPort, tls, tls6 } = await startTls(['--max-connections', String(FLOOD), '--max-connections-per-ip', String(PER_IP)]);
        const silent: Client[] = [];
        try {
          for (let i = 0; i < FLOOD; i++) silent.push(await Client.connect(tls));
          const stats = await untilStats(
            adminPort,
            (body) => (body.connections.rejected.max_connections_per_ip ?? 0) >= FLOOD - PER_IP,
            `${FLOOD - PER_IP} per-IP refusals`,
          );
          assert.equal(stats.connections.rejected.max_connections_per_ip, FLOOD - PER_IP);
          await tlsEchoes(await tlsClient(tls6, HOST6), 'a bystander\n');
          // FIN from the held ones frees their slots at once: 127.0.0.1 is served again.
          for (const client of silent) client.end();
          await untilStats(adminPort, (body) => (body.connections.rejected.tls_error ?? 0) >= PER_IP, `${PER_IP} handshakes given up`);
          await tlsEchoes(await tlsClient(tls, HOST), 'served again\n');
          const after = await untilStats(adminPort, () => true, 'stats');
          assert.equal(after.connections.rejected.max_connections, 0);
        } finally {
          for (const client of silent) client.destroy();
        }
      });

      it('tls: a client that sends FIN mid-handshake frees the only slot at once', { timeout: CLI_TIMEOUT_MS }, async () => {
        const { adminPort, tls } = await startTls(['--max-connections', '1']);
        const quitter = await Client.connect(tls);
        try {
          quitter.end();
          await untilStats(adminPort, (body) => body.connections.rejected.tls_error === 1, 'the handshake to be given up');
          await tlsEchoes(await tlsClient(tls, HOST), 'my turn\n');
        } finally {
          quitter.destroy();
        }
      });
    });
  }
});
