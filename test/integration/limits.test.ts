// The bounds on what clients may hold: connection counts (total and per address), idle time,
// and time spent not taking the echo. Each closes only the connection that broke it.
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, it } from 'node:test';
import { createEchoServer } from '../../src/server/server.js';
import { Client, echoes, Fixture, HOST, ServerEvents, untilServerStopsReading } from '../../testkit/clients.js';

const TEST_TIMEOUT_MS = 10_000;

describe('limits', () => {
  let fixture: Fixture | undefined;
  afterEach(() => fixture?.cleanup());

  describe('maxConnections', () => {
    it('closes one connection too many at once, counts it, and keeps serving the others', { timeout: TEST_TIMEOUT_MS }, async () => {
      fixture = await Fixture.start({ maxConnections: 2 });
      const { server, events } = fixture;
      const first = await fixture.connect();
      const second = await fixture.connect();
      const extra = await fixture.client();
      await events.until(() => events.rejects.length === 1, 2000, 'the extra connection to be rejected');
      assert.deepEqual(events.rejects, ['max_connections']);
      await extra.waitClosed();
      assert.equal(extra.pendingBytes, 0);

      const { connections } = server.stats;
      assert.equal(connections.rejected.max_connections, 1);
      assert.equal(connections.rejected.max_connections_per_ip, 0);
      assert.equal(connections.total, 2, 'a rejected connection is not counted as served');
      assert.equal(connections.active, 2);
      await echoes(first, 'first still echoes\n');
      await echoes(second, 'second still echoes\n');
    });

    it('a closed connection frees its slot', { timeout: TEST_TIMEOUT_MS }, async () => {
      fixture = await Fixture.start({ maxConnections: 1 });
      const { events } = fixture;
      const first = await fixture.connect();
      await fixture.client();
      await events.until(() => events.rejects.length === 1, 2000, 'the second connection to be rejected');
      first.end();
      await first.readToEnd();
      await events.closed(1);
      const next = await fixture.connect();
      await echoes(next, 'my turn\n');
      assert.equal(events.rejects.length, 1);
    });
  });

  describe('maxConnectionsPerIp', () => {
    it(
      'refuses a third connection from one address with its own reason, and frees slots on close',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        fixture = await Fixture.start({ maxConnections: 100, maxConnectionsPerIp: 2 });
        const { server, events } = fixture;
        const first = await fixture.connect();
        await fixture.connect();
        const extra = await fixture.client();
        await events.until(() => events.rejects.length === 1, 2000, 'the third connection to be rejected');
        assert.deepEqual(events.rejects, ['max_connections_per_ip']);
        await extra.waitClosed();
        assert.equal(server.stats.connections.rejected.max_connections_per_ip, 1);
        assert.equal(server.stats.connections.rejected.max_connections, 0);
        await echoes(first, 'still served\n');

        first.end();
        await first.readToEnd();
        await events.closed(1);
        const next = await fixture.connect();
        await echoes(next, 'a freed slot\n');
        assert.equal(events.rejects.length, 1);
      },
    );
  });

  describe('idleTimeoutMs', () => {
    it('closes a connection with no traffic: idle_timeout, EOF to the client', { timeout: TEST_TIMEOUT_MS }, async () => {
      const idleTimeoutMs = 200;
      fixture = await Fixture.start({ idleTimeoutMs });
      const client = await fixture.connect();
      assert.equal((await client.readToEnd(idleTimeoutMs * 10)).length, 0);
      const [summary] = await fixture.events.closed(1);
      assert.equal(summary?.reason, 'idle_timeout');
      assert.equal(summary?.forced, false);
      assert.ok((summary?.durationMs ?? 0) >= idleTimeoutMs * 0.9, `closed after ${summary?.durationMs} ms`);
      assert.equal(fixture.server.stats.connections.closed.idle_timeout, 1);
    });

    it(
      'an idle connection’s complete lines are echoed, its unterminated line is not (a fragment), then it is closed',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        fixture = await Fixture.start({ idleTimeoutMs: 200 });
        const client = await fixture.connect();
        await client.write('a line\nhalf a line');
        assert.equal((await client.readToEnd(2000)).toString(), 'a line\n');
        const [summary] = await fixture.events.closed(1);
        assert.equal(summary?.reason, 'idle_timeout');
        assert.equal(summary?.discardedTailBytes, 'half a line'.length);
      },
    );

    it('traffic keeps a connection open past the idle timeout', { timeout: TEST_TIMEOUT_MS }, async () => {
      const idleTimeoutMs = 300;
      fixture = await Fixture.start({ idleTimeoutMs });
      const client = await fixture.connect();
      const started = performance.now();
      // A slow client: one line every third of the timeout, for several timeouts' worth.
      for (let i = 0; performance.now() - started < idleTimeoutMs * 3; i++) {
        await echoes(client, `tick ${i}\n`);
        await delay(idleTimeoutMs / 3);
      }
      assert.equal(fixture.events.closes.length, 0, 'closed although it was never idle');
      const [summary] = await fixture.events.closed(1, idleTimeoutMs * 10);
      assert.equal(summary?.reason, 'idle_timeout');
    });

    it(
      'a server that listens some time after it was built still waits the whole timeout',
      {
        timeout: TEST_TIMEOUT_MS,
      },
      async () => {
        const idleTimeoutMs = 300;
        const server = createEchoServer({ host: HOST, port: 0, idleTimeoutMs });
        const events = new ServerEvents(server);
        let client: Client | undefined;
        try {
          await delay(idleTimeoutMs * 2); // built now, listening later: the setup under test
          const { port } = await server.listen();
          client = await Client.connect(port);
          const [summary] = await events.closed(1, idleTimeoutMs * 10);
          assert.equal(summary?.reason, 'idle_timeout');
          assert.ok((summary?.durationMs ?? 0) >= idleTimeoutMs * 0.9, `closed as idle after ${summary?.durationMs} ms`);
        } finally {
          client?.destroy();
          await server.close();
        }
      },
    );
  });

  describe('writeStallTimeoutMs', () => {
    it('closes a client that never reads its echo (write_stalled) while another keeps echoing', { timeout: TEST_TIMEOUT_MS }, async () => {
      const writeStallTimeoutMs = 200;
      fixture = await Fixture.start({ writeStallTimeoutMs });
      const { server, events } = fixture;
      const reader = await fixture.connect();
      const stalled = await fixture.connect({ read: false });
      const [, stalledId] = events.opened;
      // Far more than the kernel buffers between us hold, so the server's writes must block.
      stalled.socket.write(Buffer.alloc(16 * 1024 * 1024, 'stall\n'));

      let echoedMeanwhile = 0;
      while (!events.closes.some((summary) => summary.id === stalledId)) {
        await echoes(reader, `line ${echoedMeanwhile++}\n`);
      }
      const summary = await events.closeOf(stalledId as number);
      assert.equal(summary.reason, 'write_stalled');
      assert.ok(summary.durationMs >= writeStallTimeoutMs * 0.9, `closed after ${summary.durationMs} ms`);
      assert.ok(echoedMeanwhile > 0, 'the other client echoed while the stalled one was held');
      assert.ok(summary.bytesReceived < 16 * 1024 * 1024, 'the server stopped reading from the stalled client');
      await echoes(reader, 'and after\n');
      assert.equal(server.stats.connections.active, 1);
      assert.equal(server.stats.connections.closed.write_stalled, 1);
    });

    it('a slow reader whose every pause is shorter than the timeout is never closed', { timeout: TEST_TIMEOUT_MS }, async () => {
      const writeStallTimeoutMs = 400;
      fixture = await Fixture.start({ writeStallTimeoutMs });
      const { server, events } = fixture;
      const client = await fixture.connect();
      const input = Buffer.alloc(32 * 1024 * 1024, 'a slow reader..\n'); // 16 bytes: whole lines only
      client.socket.write(input);
      const echoed: Buffer[] = [];
      // Paused for half the timeout at a time, four times: twice the timeout in all.
      for (let pause = 0; pause < 4; pause++) {
        client.socket.pause();
        await untilServerStopsReading(server);
        await delay(writeStallTimeoutMs / 2); // the slow reader's pause: time passing is the point
        client.socket.resume();
        echoed.push(await client.read(2 * 1024 * 1024));
      }
      echoed.push(await client.read(input.length - 4 * 2 * 1024 * 1024));
      assert.ok(Buffer.concat(echoed).equals(input), 'the echo differs from the input');
      assert.equal(events.closes.length, 0, 'closed a client that kept reading');
    });
  });
});
