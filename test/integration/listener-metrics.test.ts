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

      assert.equal(scrape.value('echod_tls_handshakes_total', { version: 'TLSv1.3' }), 1);
      assert.equal(scrape.value('echod_tls_handshakes_total', { version: 'TLSv1.2' }), 1);
      assert.equal(scrape.value('echod_tls_handshake_duration_seconds_count'), 2);
      assert.ok(scrape.value('echod_tls_handshake_duration_seconds_sum') > 0, 'handshakes take time');
      unix.destroy();
    },
  );
});
