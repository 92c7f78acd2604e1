// Per-listener metrics: with tcp, tls and unix listeners (and a udp one beside them), each
// connection, byte and line series is labelled with its listener's URL as echod logs it, each
// listener's values are exactly its own traffic, and the sums without the label are the
// server's totals. TLS handshakes are counted by version and timed. Loopback, port 0.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { AdminFixture } from '../../testkit/admin-http.js';
import { Client, HOST } from '../../testkit/clients.js';
import { REJECT_REASONS } from '../../src/core/stats.js';
import { parsePrometheus, type Scrape } from '../../testkit/prometheus.js';
import { UdpClient } from '../../testkit/udp-client.js';

const TEST_TIMEOUT_MS = 15_000;

describe('per-listener metrics', () => {
  let fixture: AdminFixture | undefined;
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'echod-listener-metrics-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    await fixture?.cleanup();
    fixture = undefined;
  });

  /** Writes `text`, reads its echo, ends, waits for the close. */
  async function echoAndClose(admin: AdminFixture, client: Client, text: string, closes: number): Promise<void> {
    await client.write(text);
    assert.equal(await client.readText(text), text);
    client.end();
    await client.readToEnd();
    await admin.echo.events.closed(closes);
  }

  function sum(scrape: Scrape, name: string, labels: Record<string, string> = {}): number {
    return scrape
      .all(name)
      .filter((sample) => Object.entries(labels).every(([key, value]) => sample.labels[key] === value))
      .reduce((total, sample) => total + sample.value, 0);
  }

  it(
    'tcp, tls and unix listeners: each series per listener, summing to the totals; tls handshakes by version',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const path = join(dir, 'echo.sock');
      fixture = await AdminFixture.start(
        {
          listeners: [
            { protocol: 'tcp', host: HOST, port: 0 },
            { protocol: 'tls', host: HOST, port: 0 },
            { protocol: 'unix', path },
            { protocol: 'udp', host: HOST, port: 0 },
          ],
          tls: { selfSigned: true },
        },
        { processMetrics: false },
      );
      const admin = fixture;
      const [tcp, tls, , udp] = admin.echo.server.addresses;
      assert.ok(tcp !== undefined && 'port' in tcp && tls !== undefined && 'port' in tls && udp !== undefined && 'port' in udp);
      const urls = { tcp: `tcp://${HOST}:${tcp.port}`, tls: `tls://${HOST}:${tls.port}`, unix: `unix://${path}` };
      const udpUrl = `udp://${HOST}:${udp.port}`;

      // Distinct traffic on each: tcp 1 line, tls 2 + 3 lines over a TLSv1.3 and a TLSv1.2 client, unix 4 lines.
      const traffic = { tcp: 'a\n', tls13: 'bb\ncc\n', tls12: 'dd\nee\nff\n', unix: 'g\nh\ni\nj\n' };
      await echoAndClose(admin, await admin.echo.connect(), traffic.tcp, 1);
      await echoAndClose(admin, await Client.tls(tls.port), traffic.tls13, 2);
      await echoAndClose(admin, await Client.tls(tls.port, { maxVersion: 'TLSv1.2' }), traffic.tls12, 3);
      const unix = await Client.unix(path);
      await admin.echo.events.opens(4);
      await unix.write(traffic.unix);
      assert.equal(await unix.readText(traffic.unix), traffic.unix);

      const datagrams = await UdpClient.bind(HOST);
      try {
        for (const [i, payload] of ['one', 'three'].entries()) {
          await datagrams.send(Buffer.from(payload), udp.port, HOST);
          await datagrams.replies(i + 1);
        }
      } finally {
        await datagrams.close();
      }

      const scrape = parsePrometheus((await admin.get('/metrics')).body);
      const tlsBytes = traffic.tls13.length + traffic.tls12.length;
      const expected = {
        echod_connections_total: { tcp: 1, tls: 2, unix: 1 },
        echod_connections_active: { tcp: 0, tls: 0, unix: 1 },
        echod_bytes_received_total: { tcp: traffic.tcp.length, tls: tlsBytes, unix: traffic.unix.length },
        echod_bytes_sent_total: { tcp: traffic.tcp.length, tls: tlsBytes, unix: traffic.unix.length },
        echod_lines_total: { tcp: 1, tls: 5, unix: 4 },
      };
      for (const [name, values] of Object.entries(expected)) {
        for (const [which, value] of Object.entries(values)) {
          assert.equal(scrape.value(name, { listener: urls[which as keyof typeof urls] }), value, `${name} on ${which}`);
        }
        assert.equal(scrape.all(name).length, 3, `${name}: one series per stream listener, none for udp`);
      }
      assert.equal(scrape.value('echod_connections_closed_total', { reason: 'client_closed', listener: urls.tls }), 2);
      assert.equal(scrape.value('echod_connections_closed_total', { reason: 'client_closed', listener: urls.unix }), 0);

      // Summed without the label: the server's own totals, as /stats gives them.
      const stats = admin.echo.server.stats;
      assert.equal(sum(scrape, 'echod_connections_total'), stats.connections.total);
      assert.equal(sum(scrape, 'echod_connections_active'), stats.connections.active);
      assert.equal(sum(scrape, 'echod_bytes_received_total'), stats.bytesReceived);
      assert.equal(sum(scrape, 'echod_bytes_sent_total'), stats.bytesSent);
      assert.equal(sum(scrape, 'echod_lines_total'), stats.lines);
      assert.equal(sum(scrape, 'echod_connections_closed_total', { reason: 'client_closed' }), stats.connections.closed.client_closed);
      // /stats says the same per listener.
      const tlsStats = stats.listeners.find((listener) => listener.url === urls.tls);
      assert.deepEqual([tlsStats?.bytesReceived, tlsStats?.bytesSent, tlsStats?.lines], [tlsBytes, tlsBytes, 5]);

      // The udp listener: its own series, and none of the stream ones.
      assert.equal(scrape.value('echod_udp_datagrams_received_total', { listener: udpUrl }), 2);
      assert.equal(scrape.value('echod_udp_datagrams_echoed_total', { listener: udpUrl }), 2);
      assert.equal(scrape.value('echod_udp_bytes_received_total', { listener: udpUrl }), 'one'.length + 'three'.length);
      assert.equal(scrape.value('echod_udp_datagrams_dropped_total', { listener: udpUrl, reason: 'rate_limited' }), 0);
      assert.equal(sum(scrape, 'echod_udp_bytes_sent_total'), stats.udp.bytesSent);

      // Each closed connection's duration on its own listener; the open unix one not yet.
      const durations = { tcp: 1, tls: 2, unix: 0 };
      for (const [which, count] of Object.entries(durations))
        assert.equal(scrape.value('echod_connection_duration_seconds_count', { listener: urls[which as keyof typeof urls] }), count, which);

      // Handshakes on the tls listener only: by version, and timed.
      const onTls = { listener: urls.tls };
      assert.equal(scrape.value('echod_tls_handshakes_total', { ...onTls, version: 'TLSv1.3' }), 1);
      assert.equal(scrape.value('echod_tls_handshakes_total', { ...onTls, version: 'TLSv1.2' }), 1);
      assert.equal(scrape.all('echod_tls_handshakes_total').length, 2, 'no handshake series for tcp, unix or udp');
      assert.equal(scrape.value('echod_tls_handshake_duration_seconds_count', onTls), 2);
      assert.ok(scrape.value('echod_tls_handshake_duration_seconds_sum', onTls) > 0, 'handshakes take time');
      unix.destroy();
    },
  );

  it(
    'refusals, forced closes and durations are booked to the listener that took the socket, whichever accept path refused it',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const path = join(dir, 'refusals.sock');
      const drainTimeoutMs = 200;
      fixture = await AdminFixture.start(
        {
          listeners: [
            { protocol: 'tcp', host: HOST, port: 0 }, // admitted at accept
            { protocol: 'tcp', host: HOST, port: 0, proxyProtocol: 'required' }, // held for its PROXY header
            { protocol: 'tls', host: HOST, port: 0 }, // held for its handshake
            { protocol: 'unix', path },
          ],
          tls: { selfSigned: true },
          maxConnections: 1,
          maxLineBytes: 16,
          drainTimeoutMs,
        },
        { processMetrics: false },
      );
      const admin = fixture;
      const { server, events } = admin.echo;
      const [tcp, proxied, tls] = server.addresses;
      assert.ok(tcp !== undefined && 'port' in tcp && proxied !== undefined && 'port' in proxied && tls !== undefined && 'port' in tls);
      const urls = {
        tcp: `tcp://${HOST}:${tcp.port}`,
        proxied: `tcp://${HOST}:${proxied.port}`,
        tls: `tls://${HOST}:${tls.port}`,
        unix: `unix://${path}`,
      };
      const refusedOn: string[] = [];
      server.on('reject', (reason, _address, listener) => refusedOn.push(`${reason} ${listener}`));

      // tcp: a line too long closes it; the client never ends its side, so the drain timeout destroys it (forced).
      const stubborn = await admin.echo.connect({ allowHalfOpen: true });
      await stubborn.write(`${'x'.repeat(32)}\n`);
      assert.equal((await stubborn.readToEnd()).length, 0, 'the server FINs and echoes nothing');
      const [forced] = await events.closed(1);
      assert.deepEqual([forced?.reason, forced?.forced, forced?.listener], ['line_too_long', true, urls.tcp]);
      assert.ok((forced?.durationMs ?? 0) >= drainTimeoutMs * 0.9, `forced after ${forced?.durationMs} ms`);
      // tls: one served and closed.
      await echoAndClose(admin, await Client.tls(tls.port), 'over tls\n', 2);
      // proxied: not a PROXY header (refused by refuse()).
      const garbage = await Client.connect(proxied.port);
      await garbage.write('not a proxy header\r\n');
      await garbage.waitClosed();
      await events.until(() => refusedOn.length === 1, 2000, 'the bad PROXY header to be refused');

      // The one slot taken on unix: each other listener refuses its next socket (admit(), and hold() at accept).
      const holder = await Client.unix(path);
      await events.opens(3);
      for (const port of [tcp.port, proxied.port, tls.port]) {
        const refused = await Client.connect(port).catch(() => null); // a reset may come before connect completes
        await refused?.waitClosed();
        refused?.destroy();
      }
      await events.until(() => refusedOn.length === 4, 2000, 'three refusals by max_connections');
      assert.deepEqual(
        refusedOn.sort(),
        [
          `max_connections ${urls.tcp}`,
          `max_connections ${urls.proxied}`,
          `max_connections ${urls.tls}`,
          `proxy_protocol_error ${urls.proxied}`,
        ].sort(),
        'each refusal names its listener',
      );

      const scrape = parsePrometheus((await admin.get('/metrics')).body);
      const rejected = (reason: string, which: keyof typeof urls): number =>
        scrape.value('echod_connections_rejected_total', { reason, listener: urls[which] });
      for (const which of ['tcp', 'proxied', 'tls'] as const) assert.equal(rejected('max_connections', which), 1, which);
      assert.equal(rejected('max_connections', 'unix'), 0);
      assert.equal(rejected('proxy_protocol_error', 'proxied'), 1);
      assert.equal(rejected('proxy_protocol_error', 'tcp'), 0);
      assert.equal(rejected('tls_error', 'tls'), 0);
      assert.equal(scrape.all('echod_connections_rejected_total').length, 4 * REJECT_REASONS.length, 'every reason on every listener');
      for (const reason of REJECT_REASONS)
        assert.equal(sum(scrape, 'echod_connections_rejected_total', { reason }), server.stats.connections.rejected[reason], reason);

      const forcedOn = (which: keyof typeof urls): number => scrape.value('echod_connections_forced_total', { listener: urls[which] });
      assert.deepEqual([forcedOn('tcp'), forcedOn('proxied'), forcedOn('tls'), forcedOn('unix')], [1, 0, 0, 0]);
      const durationsOn = (which: keyof typeof urls): number =>
        scrape.value('echod_connection_duration_seconds_count', { listener: urls[which] });
      assert.deepEqual([durationsOn('tcp'), durationsOn('proxied'), durationsOn('tls'), durationsOn('unix')], [1, 0, 1, 0]);
      const slowest = scrape.value('echod_connection_duration_seconds_sum', { listener: urls.tcp });
      assert.ok(slowest >= (drainTimeoutMs * 0.9) / 1000, `the forced connection's ${slowest} s is on tcp`);
      assert.equal(scrape.value('echod_tls_handshakes_total', { version: 'TLSv1.3', listener: urls.tls }), 1);
      holder.destroy();
    },
  );
});
