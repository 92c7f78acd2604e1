// UDP echo (RFC 862) over real datagram sockets: each datagram answered once, whole, to its
// sender; the per-source rate limit, per second and per address, duplicate-fault copies counted;
// datagrams from the ports of other reflectors dropped; IPv6.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, it, type TestContext } from 'node:test';
import { parseListenUrl } from '../../src/config/listen-url.js';
import type { EchoServerOptions } from '../../src/config/options.js';
import type { EchoServer } from '../../src/server/server.js';
import { HOST, WAIT_MS } from '../../testkit/clients.js';
import { type UdpClient, UdpFixture } from '../../testkit/udp-client.js';
import { poll } from '../../testkit/wait.js';

const TEST_TIMEOUT_MS = 15_000;
/** The rate limit's window, as documented: answers per second. */
const WINDOW_MS = 1000;
const PROBE_EVERY_MS = 20;
/** The ports of services that answer anything (echo, daytime, qotd, chargen, time). */
const REFLECTOR_PORTS = [7, 13, 17, 19, 37];

describe('udp listeners', () => {
  const fixture = new UdpFixture();
  afterEach(fixture.cleanup);

  async function start(options: EchoServerOptions): Promise<{ server: EchoServer; port: number }> {
    const { server, ports } = await fixture.start(options);
    assert.ok(ports[0] !== undefined, 'a udp listener');
    return { server, port: ports[0] };
  }

  function client(address = HOST, port = 0): Promise<UdpClient> {
    return fixture.client(address, port);
  }

  /**
   * Sends `marker` and waits for its echo: datagrams to and from one socket pair keep their
   * order on loopback, so once it is back, every earlier answer has arrived too.
   */
  async function roundTrip(from: UdpClient, port: number, address = HOST): Promise<number> {
    const marker = Buffer.from(`marker ${randomBytes(8).toString('hex')}`);
    await from.send(marker, port, address);
    await from.until(() => from.received.some((datagram) => datagram.data.equals(marker)), WAIT_MS, 'the marker echo');
    return marker.length;
  }

  it(
    'datagrams of 1, 512, 1400 and 60,000 bytes are each answered once, identical, to the sender',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const { server, port } = await start({ listeners: [{ protocol: 'udp', host: HOST, port: 0 }] });
      const alice = await client();
      const bob = await client();
      const sizes = [1, 512, 1400, 60_000];
      const sent = sizes.map((size) => randomBytes(size));
      for (const payload of sent) await alice.send(payload, port, HOST);
      const bobs = Buffer.from('bob only');
      await bob.send(bobs, port, HOST);

      const replies = await alice.replies(sent.length);
      assert.deepEqual(
        replies.map((reply) => reply.data.length),
        sizes,
      );
      replies.forEach((reply, index) => {
        assert.ok(reply.data.equals(sent[index] as Buffer), `datagram ${index} came back identical`);
        assert.equal(reply.address, HOST);
        assert.equal(reply.port, port, 'answered from the port it was sent to');
      });
      const markerBytes = (await roundTrip(alice, port)) + (await roundTrip(bob, port));
      assert.equal(alice.received.length, sent.length + 1, 'each datagram answered once, nothing else');
      assert.deepEqual(
        bob.received.map((reply) => reply.data.toString()).slice(0, 1),
        ['bob only'],
        'each sender gets only its own answers',
      );
      assert.equal(bob.received.length, 2);

      const total = sizes.reduce((sum, size) => sum + size, 0) + bobs.length + markerBytes;
      const { udp, connections } = server.stats;
      assert.equal(udp.received, 7, '4 + 1 datagrams and 2 markers');
      assert.equal(udp.echoed, 7);
      assert.equal(udp.bytesReceived, total);
      assert.equal(udp.bytesSent, total);
      assert.equal(udp.dropped.rate_limited, 0);
      assert.equal(udp.dropped.reflection_port, 0);
      assert.equal(connections.total, 0, 'datagrams are not connections');
    },
  );

  it('an empty datagram is answered with an empty one', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { port } = await start({ listeners: [{ protocol: 'udp', host: HOST, port: 0 }] });
    const alice = await client();
    await alice.send(Buffer.alloc(0), port, HOST);
    const [reply] = await alice.replies(1);
    assert.equal(reply?.data.length, 0);
  });

  it('udpRatePerSource 5: of 20 quick datagrams, 5 are answered per second, per source address', { timeout: TEST_TIMEOUT_MS }, async () => {
    const RATE = 5;
    const BURST = 20;
    /** Another address's burst; both together stay within one read pass of the server (libuv reads up to 32 datagrams per wake-up). */
    const OTHER_BURST = 10;
    const { server, port } = await start({ listeners: [{ protocol: 'udp', host: HOST, port: 0 }], udpRatePerSource: RATE });
    const alice = await client(HOST);
    const carol = await client('127.0.0.2'); // another source address: its own allowance
    // One synchronous burst: the server (in this process) reads none of it before all of it is
    // queued, and reads it in one go, so it all falls in one window.
    const sends: Promise<void>[] = [];
    for (let i = 0; i < BURST; i++) {
      sends.push(alice.send(Buffer.from(`alice ${i}`), port, HOST));
      if (i < OTHER_BURST) sends.push(carol.send(Buffer.from(`carol ${i}`), port, HOST));
    }
    await Promise.all(sends);
    await poll(() => server.stats.udp.received === BURST + OTHER_BURST, WAIT_MS, 'the server to read the whole burst');
    await alice.replies(RATE);
    await carol.replies(RATE);
    const answered = (from: UdpClient): string[] => from.received.map((reply) => reply.data.toString());
    assert.deepEqual(answered(alice), ['alice 0', 'alice 1', 'alice 2', 'alice 3', 'alice 4'], 'the first 5 are answered');
    assert.deepEqual(answered(carol), ['carol 0', 'carol 1', 'carol 2', 'carol 3', 'carol 4']);
    const { udp } = server.stats;
    assert.equal(udp.dropped.rate_limited, BURST - RATE + (OTHER_BURST - RATE));
    assert.equal(udp.echoed, 2 * RATE);
    assert.equal(udp.dropped.reflection_port, 0);

    // A later window answers again: probe every few milliseconds until one is answered (the
    // window is about time, so this waits on a bounded deadline).
    const burstEnded = performance.now();
    let probes = 0;
    const prober = setInterval(() => {
      alice.send(Buffer.from(`probe ${probes++}`), port, HOST).catch(() => {});
    }, PROBE_EVERY_MS);
    try {
      await alice.until(() => alice.received.length > RATE, WINDOW_MS * 3, 'an answer in a later window');
    } finally {
      clearInterval(prober);
    }
    const waited = performance.now() - burstEnded;
    assert.ok(waited <= WINDOW_MS * 2, `answered again ${Math.round(waited)} ms after the burst (window ${WINDOW_MS} ms)`);
    assert.match(alice.received[RATE]?.data.toString() ?? '', /^probe \d+$/);
  });

  it(
    'duplicate-rate 1 with udpRatePerSource 5: 5 datagrams a second in all, copies included, none larger than its request',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const RATE = 5;
      const BURST = 20;
      const { server, port } = await start({ listeners: [parseListenUrl(`udp://${HOST}:0?duplicate-rate=1`)], udpRatePerSource: RATE });
      const alice = await client();
      // One synchronous burst, read in one pass: it all falls in one window (see the test above).
      const sends: Promise<void>[] = [];
      for (let i = 0; i < BURST; i++) sends.push(alice.send(Buffer.from(`alice ${i}`), port, HOST));
      await Promise.all(sends);
      await poll(() => server.stats.udp.received === BURST, WAIT_MS, 'the server to read the whole burst');
      const { dropped, duplicated } = structuredClone(server.stats.udp);
      assert.equal(dropped.rate_limited, BURST - 3, 'the datagrams not answered at all');
      assert.equal(duplicated, 2);
      // A probe answered in a later window comes after every answer to the burst (one socket pair keeps order on loopback).
      let probes = 0;
      const prober = setInterval(() => {
        alice.send(Buffer.from(`probe ${probes++}`), port, HOST).catch(() => {});
      }, PROBE_EVERY_MS);
      try {
        await alice.until(
          () => alice.received.some((reply) => reply.data.toString().startsWith('probe')),
          WINDOW_MS * 3,
          'an answer in a later window',
        );
      } finally {
        clearInterval(prober);
      }
      const burstReplies = alice.received.slice(
        0,
        alice.received.findIndex((reply) => reply.data.toString().startsWith('probe')),
      );
      assert.deepEqual(
        burstReplies.map((reply) => reply.data.toString()),
        ['alice 0', 'alice 0', 'alice 1', 'alice 1', 'alice 2'],
        'the budget counts every datagram sent: the third copy is not sent; each reply is its request, no larger',
      );
    },
  );

  it('udpRatePerSource 0: no limit', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { server, port } = await start({ listeners: [{ protocol: 'udp', host: HOST, port: 0 }], udpRatePerSource: 0 });
    const alice = await client();
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 50; i++) sends.push(alice.send(Buffer.from(`n${i}`), port, HOST));
    await Promise.all(sends);
    await alice.replies(50);
    assert.equal(server.stats.udp.dropped.rate_limited, 0);
  });

  it(
    'a datagram from the port of an echo-like service (7, 13, 17, 19, 37) is dropped, never answered',
    { timeout: TEST_TIMEOUT_MS },
    async (t: TestContext) => {
      const { server, port } = await start({ listeners: [{ protocol: 'udp', host: HOST, port: 0 }] });
      const reflectors: UdpClient[] = [];
      for (const reflectorPort of REFLECTOR_PORTS) {
        try {
          reflectors.push(await client(HOST, reflectorPort));
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'EACCES' || code === 'EPERM') {
            t.skip(`binding port ${reflectorPort} needs root (${code})`);
            return;
          }
          throw err;
        }
      }
      for (const reflector of reflectors) await reflector.send(Buffer.from('bounce me'), port, HOST);
      await poll(() => server.stats.udp.received === REFLECTOR_PORTS.length, WAIT_MS, 'the server to read them');
      // An ordinary client is answered after them: had they been answered, those answers went first.
      const alice = await client();
      await roundTrip(alice, port);
      for (const reflector of reflectors) assert.deepEqual(reflector.received, [], `port ${reflector.port} got no answer`);
      const { udp } = server.stats;
      assert.equal(udp.dropped.reflection_port, REFLECTOR_PORTS.length);
      assert.equal(udp.echoed, 1, 'only the ordinary client was answered');
    },
  );

  it('IPv6: udp://[::1]:0 answers an IPv6 client', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { server, port } = await start({ listeners: [parseListenUrl('udp://[::1]:0')] });
    const address = server.addresses[0];
    assert.ok(address !== undefined && 'family' in address);
    assert.equal(address.address, '::1');
    assert.equal(address.family, 'IPv6');
    const alice = await client('::1');
    const payload = randomBytes(1400);
    await alice.send(payload, port, '::1');
    const [reply] = await alice.replies(1);
    assert.ok(reply !== undefined && reply.data.equals(payload));
    assert.equal(reply.address, '::1');
    assert.equal(reply.port, port);
  });

  it('close() closes the UDP socket: the port can be bound again', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { server: udpServer, port } = await start({ listeners: [{ protocol: 'udp', host: HOST, port: 0 }] });
    await udpServer.close();
    assert.deepEqual(udpServer.addresses, []);
    const rebound = await client(HOST, port);
    assert.equal(rebound.port, port);
  });
});
