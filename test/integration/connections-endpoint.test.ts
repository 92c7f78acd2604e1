// GET /connections on the admin endpoint: every open connection with who, where, how much and
// how long — over two listeners, one of them reading an optional PROXY header — and an empty
// list once they have all closed; paged (?limit=&offset=, 100 by default, maxPageSize at most),
// so no answer grows with the number of connections.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { ConnectionSnapshot } from '../../src/server/server.js';
import { AdminFixture } from '../../testkit/admin-http.js';
import { Client, HOST, WAIT_MS } from '../../testkit/clients.js';

const TEST_TIMEOUT_MS = 10_000;
const PROXY_HEADER = 'PROXY TCP4 203.0.113.7 192.0.2.1 40000 7000\r\n';
const OPEN = 7;

interface ConnectionsPage {
  total: number;
  offset: number;
  limit: number;
  next: number | null;
  connections: ConnectionSnapshot[];
}

describe('GET /connections', () => {
  let fixture: AdminFixture | undefined;
  afterEach(async () => {
    await fixture?.cleanup();
    fixture = undefined;
  });

  async function page(query = ''): Promise<ConnectionsPage> {
    const response = await (fixture as AdminFixture).get(`/connections${query}`);
    assert.equal(response.status, 200);
    assert.match(response.headers['content-type'] ?? '', /^application\/json/);
    return JSON.parse(response.body) as ConnectionsPage;
  }

  async function connections(): Promise<ConnectionSnapshot[]> {
    const first = await page();
    assert.equal(first.next, null, 'one page holds them all');
    assert.equal(first.total, first.connections.length);
    return first.connections;
  }

  it(
    'lists each open connection with its listener, ends, byte and line counts, age, idle time and state; empty once they close',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      fixture = await AdminFixture.start({
        listeners: [
          { protocol: 'tcp', host: HOST, port: 0 },
          { protocol: 'tcp', host: HOST, port: 0, proxyProtocol: 'optional' },
        ],
      });
      const { echo } = fixture;
      const [plainAddress, proxiedAddress] = echo.server.addresses;
      assert.ok(plainAddress !== undefined && 'port' in plainAddress && proxiedAddress !== undefined && 'port' in proxiedAddress);
      const startedAt = performance.now();
      assert.deepEqual(await connections(), [], 'none before any client');

      // Three clients: on the plain listener; on the PROXY listener without a header; and with one.
      const sends = [
        { port: plainAddress.port, header: '', data: 'one\ntwo\nthree\n', lines: 3 },
        { port: proxiedAddress.port, header: '', data: 'direct\n', lines: 1 },
        { port: proxiedAddress.port, header: PROXY_HEADER, data: 'via a balancer\nsecond\n', lines: 2 },
      ];
      const clients: Client[] = [];
      for (const { port, header, data } of sends) {
        const client = await Client.connect(port);
        echo.clients.push(client);
        clients.push(client);
        await client.write(header + data);
        // Once the echo is back, the server has read and written everything: the counts are final.
        assert.equal(await client.readText(data), data);
      }

      const listed = await connections();
      const elapsed = performance.now() - startedAt;
      assert.equal(listed.length, 3);
      assert.deepEqual(
        listed.map((entry) => entry.id),
        echo.events.opened,
        'one entry per accepted connection, by id',
      );
      sends.forEach(({ port, header, data, lines }, index) => {
        const entry = listed[index] as ConnectionSnapshot;
        const client = clients[index] as Client;
        const socketPeer = { address: HOST, port: client.socket.localPort };
        assert.equal(entry.listener, `tcp://${HOST}:${port}`);
        assert.deepEqual(entry.local, { address: HOST, port });
        if (header === '') {
          assert.deepEqual(entry.remote, socketPeer, 'the client, as the socket sees it');
          assert.equal(entry.via, null);
          assert.equal(entry.proxySource, null);
        } else {
          assert.deepEqual(entry.remote, { address: '203.0.113.7', port: 40000 }, 'the client the PROXY header named');
          assert.deepEqual(entry.via, socketPeer, 'the balancer: the socket peer');
          assert.deepEqual(entry.proxySource, { address: '203.0.113.7', port: 40000 });
        }
        // The client's bytes: a PROXY header is the balancer's, not counted.
        assert.equal(entry.bytesIn, data.length, `connection ${index}: bytes in`);
        assert.equal(entry.bytesOut, data.length, `connection ${index}: bytes out`);
        assert.equal(entry.lines, lines);
        assert.equal(entry.pendingBytes, 0);
        assert.equal(entry.state, 'open');
        assert.equal(entry.tls, null);
        assert.ok(
          Number.isInteger(entry.ageMs) && entry.ageMs >= 0 && entry.ageMs <= elapsed + 5,
          `age ${entry.ageMs} ms within the test's ${elapsed.toFixed(0)} ms`,
        );
        assert.ok(Number.isInteger(entry.idleMs) && entry.idleMs >= 0 && entry.idleMs <= entry.ageMs + 1000, `idle ${entry.idleMs} ms`);
      });

      // A partial line shows as pending until its newline comes. Nothing announces that the
      // server has read it, so the endpoint is asked again until it shows, with a deadline.
      const first = clients[0] as Client;
      await first.write('unfinished');
      const deadline = Date.now() + WAIT_MS;
      let pending = 0;
      while (pending === 0 && Date.now() < deadline) pending = ((await connections())[0] as ConnectionSnapshot).pendingBytes;
      assert.equal(pending, 'unfinished'.length);

      for (const client of clients) client.end();
      await echo.events.closed(3);
      assert.deepEqual(await connections(), [], 'none once every client has gone');
    },
  );

  it(
    'pages: ?limit= and ?offset= walk every connection once, next is null on the last page, limit is capped at maxPageSize',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const maxPageSize = 3;
      fixture = await AdminFixture.start({}, {}, { maxPageSize });
      const { echo } = fixture;
      for (let i = 0; i < OPEN; i++) await echo.connect();
      await echo.events.until(() => echo.events.opened.length === OPEN, WAIT_MS, `${OPEN} connections open`);

      const seen: number[] = [];
      let offset: number | null = 0;
      let pages = 0;
      while (offset !== null) {
        const current: ConnectionsPage = await page(`?limit=2&offset=${offset}`);
        assert.equal(current.total, OPEN);
        assert.equal(current.offset, offset);
        assert.equal(current.limit, 2);
        seen.push(...current.connections.map((entry) => entry.id));
        offset = current.next;
        pages++;
      }
      assert.equal(pages, Math.ceil(OPEN / 2));
      assert.deepEqual(seen, echo.events.opened, 'each connection once, in order');

      const capped = await page('?limit=1000');
      assert.equal(capped.limit, maxPageSize, 'the limit asked for is capped');
      assert.equal(capped.connections.length, maxPageSize);
      assert.equal(capped.next, maxPageSize);
      assert.equal((await page()).limit, maxPageSize, 'the default page (100) is capped too');
      const past = await page(`?offset=${OPEN + 5}`);
      assert.deepEqual([past.connections.length, past.next], [0, null]);
      for (const bad of ['?limit=0', '?limit=-1', '?offset=x', '?limit=1e3']) {
        assert.equal((await fixture.get(`/connections${bad}`)).status, 400, bad);
      }
    },
  );
});
