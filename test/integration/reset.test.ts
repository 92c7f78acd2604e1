// A client that resets its connection (RST) mid-stream costs the server that connection and
// nothing else: no crash, reason `reset`, the connection forgotten, other clients unaffected.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { type Client, echoes, Fixture, untilServerStopsReading } from '../../testkit/clients.js';
import { poll } from '../../testkit/wait.js';

const TEST_TIMEOUT_MS = 10_000;

describe('client reset', () => {
  let fixture: Fixture | undefined;
  afterEach(() => fixture?.cleanup());

  it('a reset in the middle of a line closes that connection only, reason reset', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start();
    const { server, events } = fixture;
    const bystander = await fixture.connect();
    const resetter = await fixture.connect();
    const [, resetterId] = events.opened;
    await echoes(bystander, 'before\n');

    await echoes(resetter, 'a whole line\n');
    await resetter.write('half a li');
    const sent = 'before\n'.length + 'a whole line\nhalf a li'.length;
    await poll(() => server.stats.bytesReceived === sent, 2000, 'the server to read the partial line');
    resetter.socket.resetAndDestroy();

    const summary = await events.closeOf(resetterId as number);
    assert.equal(summary.reason, 'reset');
    assert.equal(summary.lines, 1);
    assert.equal(server.stats.connections.active, 1);
    assert.equal(server.stats.connections.closed.reset, 1);

    await echoes(bystander, 'after\n');
    bystander.end();
    assert.equal((await bystander.readToEnd()).length, 0);
    await events.closed(2);
    assert.equal(server.stats.connections.active, 0);
    assert.equal(server.stats.connections.closed.client_closed, 1);
  });

  it('a reset while the server is blocked writing to that client is a reset too', { timeout: TEST_TIMEOUT_MS }, async () => {
    // writeStallTimeoutMs off: only the reset may end this connection.
    fixture = await Fixture.start({ writeStallTimeoutMs: 0 });
    const { server, events } = fixture;
    const bystander = await fixture.connect();
    const resetter = await fixture.connect({ read: false });
    const [, resetterId] = events.opened;
    resetter.socket.write(Buffer.alloc(16 * 1024 * 1024, 'z\n'));
    // Blocked: the server stops reading long before it has all 16 MiB.
    await untilServerStopsReading(server);
    resetter.socket.resetAndDestroy();

    const summary = await events.closeOf(resetterId as number);
    assert.equal(summary.reason, 'reset');
    await echoes(bystander, 'still here\n');
    assert.equal(server.stats.connections.active, 1);
  });

  it('fifty clients resetting at once, some before sending anything, leave nothing behind', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start();
    const { server, events } = fixture;
    const bystander = await fixture.connect();
    const count = 50;
    const resetters: Client[] = [];
    for (let i = 0; i < count; i++) resetters.push(await fixture.client());
    await events.opens(count + 1);
    // Half of them reset in the middle of a line, half before sending anything.
    const writers = resetters.slice(0, count / 2);
    await Promise.all(writers.map((client, i) => client.write(`partial ${i}`)));
    const sent = writers.reduce((sum, _, i) => sum + `partial ${i}`.length, 0);
    await poll(() => server.stats.bytesReceived === sent, 2000, 'the partial lines');
    for (const client of resetters) client.socket.resetAndDestroy();

    const summaries = await events.closed(count);
    assert.deepEqual(new Set(summaries.map((summary) => summary.reason)), new Set(['reset']));
    assert.equal(server.stats.connections.active, 1);
    await echoes(bystander, 'unaffected\n');
  });
});
