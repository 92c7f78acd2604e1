// server.stats after known traffic: exact byte, line and connection counts, for open
// connections and closed ones alike, and a snapshot a caller cannot corrupt.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { CLOSE_REASONS } from '../../src/core/stats.js';
import { createEchoServer } from '../../src/server/server.js';
import { Fixture, HOST } from '../../testkit/clients.js';

const TEST_TIMEOUT_MS = 10_000;

describe('stats', () => {
  let fixture: Fixture | undefined;
  afterEach(() => fixture?.cleanup());

  it('start at zero, idle and not ready; listening makes them ready, with a start time', { timeout: TEST_TIMEOUT_MS }, async () => {
    const server = createEchoServer({ host: HOST, port: 0 });
    try {
      const before = server.stats;
      assert.equal(before.state, 'idle');
      assert.equal(before.ready, false);
      assert.equal(before.startedAt, null);
      assert.equal(before.bytesReceived + before.bytesSent + before.lines, 0);
      assert.equal(before.connections.total + before.connections.active + before.connections.forced, 0);

      const earliest = Date.now();
      await server.listen();
      const after = server.stats;
      assert.equal(after.state, 'listening');
      assert.equal(after.ready, true);
      const startedAt = Date.parse(after.startedAt ?? '');
      assert.ok(startedAt >= earliest - 1000 && startedAt <= Date.now(), `startedAt ${after.startedAt}`);
    } finally {
      await server.close();
    }
    assert.equal(server.stats.state, 'closed');
    assert.equal(server.stats.ready, false);
  });

  it('count exactly what known traffic sent, received and closed', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start();
    const { server, events } = fixture;
    const first = await fixture.connect();
    const second = await fixture.connect();
    // first: 2 lines and a tail (11 bytes); second: 3 lines, one of them empty (10 bytes).
    await first.write('abc\nde\ntail');
    await second.write('xyz\n\nlast\n');
    first.end();
    second.end();
    assert.equal((await first.readToEnd()).toString(), 'abc\nde\ntail');
    assert.equal((await second.readToEnd()).toString(), 'xyz\n\nlast\n');
    await events.closed(2);

    const stats = server.stats;
    assert.equal(stats.bytesReceived, 21);
    assert.equal(stats.bytesSent, 21);
    assert.equal(stats.lines, 5);
    assert.equal(stats.connections.total, 2);
    assert.equal(stats.connections.active, 0);
    assert.equal(stats.connections.forced, 0);
    const expectedClosed = Object.fromEntries(CLOSE_REASONS.map((reason) => [reason, reason === 'client_closed' ? 2 : 0]));
    assert.deepEqual(stats.connections.closed, expectedClosed);
    assert.deepEqual(stats.connections.rejected, {
      max_connections: 0,
      max_connections_per_ip: 0,
      proxy_protocol_error: 0,
      tls_error: 0,
      fault_refused: 0,
      not_listening: 0,
    });
  });

  it('include the open connections’ traffic as it happens', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start();
    const { server } = fixture;
    const client = await fixture.connect();
    await client.write('live\nline\n');
    await client.read(10);
    let stats = server.stats;
    assert.equal(stats.connections.active, 1);
    assert.equal(stats.connections.total, 1);
    assert.equal(stats.bytesReceived, 10);
    assert.equal(stats.bytesSent, 10);
    assert.equal(stats.lines, 2);

    client.end();
    await client.readToEnd();
    await fixture.events.closed(1);
    stats = server.stats;
    assert.equal(stats.connections.active, 0);
    assert.equal(stats.bytesReceived, 10, 'a closed connection’s bytes are kept, not counted twice');
    assert.equal(stats.bytesSent, 10);
    assert.equal(stats.lines, 2);
  });

  it('each close reason is counted under its own name', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start({ maxLineBytes: 8 });
    const { server, events } = fixture;
    const polite = await fixture.connect();
    const tooLong = await fixture.connect();
    const resetter = await fixture.connect();
    polite.end();
    await polite.readToEnd();
    await tooLong.write('far too long for eight\n');
    await tooLong.readToEnd();
    resetter.socket.resetAndDestroy();
    await events.closed(3);
    const { closed } = server.stats.connections;
    assert.equal(closed.client_closed, 1);
    assert.equal(closed.line_too_long, 1);
    assert.equal(closed.reset, 1);
    assert.equal(
      Object.values(closed).reduce((sum, count) => sum + count, 0),
      3,
    );
  });

  it('a connection summary matches what the server counted', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start();
    const client = await fixture.connect();
    const localPort = client.socket.localPort;
    await client.write('one\ntwo\nthree');
    client.end();
    await client.readToEnd();
    const [summary] = await fixture.events.closed(1);
    assert.deepEqual(
      {
        bytesReceived: summary?.bytesReceived,
        bytesSent: summary?.bytesSent,
        lines: summary?.lines,
        remoteAddress: summary?.remoteAddress,
      },
      { bytesReceived: 13, bytesSent: 13, lines: 2, remoteAddress: HOST },
    );
    assert.equal(summary?.remotePort, localPort);
    assert.ok((summary?.durationMs ?? -1) >= 0);
  });

  it('the snapshot is a copy: changing it changes nothing in the server', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start();
    const { server } = fixture;
    const snapshot = server.stats;
    snapshot.connections.closed.client_closed = 99;
    snapshot.connections.rejected.max_connections = 99;
    assert.equal(server.stats.connections.closed.client_closed, 0);
    assert.equal(server.stats.connections.rejected.max_connections, 0);
  });
});
