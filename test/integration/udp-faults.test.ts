// UDP faults over real datagram sockets on loopback: dropping, duplicating and reordering
// answers, each counted in stats.udp. A clean UDP listener on the same server answers the
// marker datagrams that show when everything sent earlier has been dealt with.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import type { FaultOptions } from '../../src/config/faults.js';
import { type ListenerOptions, parseListenUrl } from '../../src/config/listen-url.js';
import type { EchoServer } from '../../src/server/server.js';
import { REORDER_FLUSH_MS } from '../../src/transports/udp.js';
import { HOST, WAIT_MS } from '../../testkit/clients.js';
import { assertBetween } from '../../testkit/fault-fixtures.js';
import { type UdpClient, UdpFixture } from '../../testkit/udp-client.js';
import { poll } from '../../testkit/wait.js';

const TEST_TIMEOUT_MS = 10_000;
/** After the marker came back, how long a wrongly sent answer is still watched for. */
const STRAGGLER_WINDOW_MS = 200;
const LATE_MS = 1000;

describe('udp faults', () => {
  const fixture = new UdpFixture();
  afterEach(fixture.cleanup);

  /** A server with a faulty UDP listener and a clean one; resolves to both ports and a client. */
  async function start(faulty: ListenerOptions): Promise<{ faultyPort: number; cleanPort: number; client: UdpClient; server: EchoServer }> {
    const { server, ports } = await fixture.start({ listeners: [faulty, { protocol: 'udp', host: HOST, port: 0 }] });
    const [faultyPort, cleanPort] = ports;
    assert.ok(faultyPort !== undefined && cleanPort !== undefined);
    return { faultyPort, cleanPort, client: await fixture.client(HOST), server };
  }

  function udp(faults: FaultOptions): ListenerOptions {
    return { protocol: 'udp', host: HOST, port: 0, faults };
  }

  /** Sends a marker to the clean listener and waits for it: the client has read what came before it. */
  async function marker(client: UdpClient, port: number): Promise<Buffer> {
    const data = Buffer.from(`marker ${randomBytes(6).toString('hex')}`);
    await client.send(data, port, HOST);
    await client.until(() => client.received.some((datagram) => datagram.data.equals(data)), WAIT_MS, 'the marker');
    return data;
  }

  /** After the marker, a short watch for answers that should never come. */
  async function stragglers(client: UdpClient, expected: number): Promise<void> {
    await client
      .until(() => client.received.length > expected, STRAGGLER_WINDOW_MS, 'a straggler')
      .then(
        () => assert.fail(`an unexpected datagram arrived: ${client.received.length} instead of ${expected}`),
        () => {},
      );
  }

  it(
    'drop-rate=1 (from a listen URL): no datagram is answered, and each is counted as dropped fault_drop',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const { faultyPort, cleanPort, client, server } = await start({ ...parseListenUrl(`udp://${HOST}:0?drop-rate=1`) });
      for (let i = 0; i < 5; i++) await client.send(Buffer.from(`dropped ${i}`), faultyPort, HOST);
      // Counted on arrival; no event says so.
      await poll(() => server.stats.udp.dropped.fault_drop === 5, WAIT_MS, 'five fault drops');
      const sentinel = await marker(client, cleanPort);
      await stragglers(client, 1);
      assert.deepEqual(
        client.received.map((datagram) => datagram.data),
        [sentinel],
        'only the clean listener answered',
      );
      const { udp: counters } = server.stats;
      assert.equal(counters.received, 6);
      assert.equal(counters.dropped.fault_drop, 5);
      assert.equal(counters.dropped.rate_limited, 0);
    },
  );

  it(
    'duplicateRate 1: each datagram is answered exactly twice, and counted in stats.udp.duplicated',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const { faultyPort, cleanPort, client, server } = await start(udp({ duplicateRate: 1 }));
      const sent = [Buffer.from('one'), randomBytes(1000), Buffer.from('three')];
      for (const data of sent) await client.send(data, faultyPort, HOST);
      await client.replies(sent.length * 2);
      await marker(client, cleanPort);
      await stragglers(client, sent.length * 2 + 1);
      for (const data of sent) {
        const copies = client.received.filter((datagram) => datagram.data.equals(data));
        assert.equal(copies.length, 2, `${data.length}-byte datagram answered twice`);
        for (const copy of copies) assert.equal(copy.port, faultyPort, 'from the faulty listener');
      }
      assert.equal(server.stats.udp.duplicated, sent.length);
      await poll(() => server.stats.udp.echoed === sent.length * 2 + 1, WAIT_MS, 'every answer counted as echoed');
    },
  );

  it(
    'reorderWindow 5: every group of five is answered in full, and across groups the order changes',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const { faultyPort, client } = await start(udp({ reorderWindow: 5 }));
      const rounds = 4;
      let reordered = 0;
      for (let round = 0; round < rounds; round++) {
        const sent = Array.from({ length: 5 }, (_, i) => `round ${round} datagram ${i}`);
        const before = client.received.length;
        for (const text of sent) await client.send(Buffer.from(text), faultyPort, HOST);
        await client.until(() => client.received.length >= before + sent.length, WAIT_MS, `the answers of round ${round}`);
        const got = client.received.slice(before).map((datagram) => datagram.data.toString());
        assert.deepEqual([...got].sort(), [...sent].sort(), `round ${round}: all five, none twice`);
        if (got.join('|') !== sent.join('|')) reordered++;
      }
      // A shuffle of five keeps the order 1 time in 120; four rounds in order means no shuffling.
      assert.ok(reordered > 0, `at least one of ${rounds} rounds came back in another order`);
    },
  );

  it(
    `reorderWindow 5: a window that does not fill is released after about ${REORDER_FLUSH_MS} ms`,
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const { faultyPort, client } = await start(udp({ reorderWindow: 5 }));
      const sent = ['a', 'b', 'c'];
      const sentAt = performance.now();
      for (const text of sent) await client.send(Buffer.from(text), faultyPort, HOST);
      await client.replies(sent.length);
      assertBetween(performance.now() - sentAt, REORDER_FLUSH_MS, REORDER_FLUSH_MS + LATE_MS, 'the partial window');
      assert.deepEqual(client.received.map((datagram) => datagram.data.toString()).sort(), sent);
    },
  );
});
