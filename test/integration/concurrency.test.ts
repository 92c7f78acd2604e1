// Many clients at once: 1,000 connections open together (2,000 descriptors in this process,
// well under its 20,000 limit), each sending its own distinct lines and getting exactly those
// back, none of another's. The server runs with its default maxConnections (10,000).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import { type Client, Fixture } from '../../testkit/clients.js';

const CLIENTS = 1000;
const TEST_TIMEOUT_MS = 30_000;
const WAIT_MS = 20_000;

describe('concurrency', () => {
  let fixture: Fixture | undefined;
  afterEach(() => fixture?.cleanup());

  it(`${CLIENTS} concurrent clients each get their own echo, exactly`, { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start();
    const { server, events } = fixture;
    const current = fixture;
    const clients: Client[] = await Promise.all(Array.from({ length: CLIENTS }, () => current.client()));
    await events.opens(CLIENTS, WAIT_MS);
    assert.equal(server.stats.connections.active, CLIENTS, 'all connections are open at the same time');

    // Each client's lines are unique to it, and sent in two pieces that split a line.
    const sent = clients.map((_, i) => `client ${i} ${randomUUID()}\nsecond line of ${i}\nand a tail for ${i}`);
    await Promise.all(
      clients.map(async (client, i) => {
        const text = sent[i] as string;
        const cut = text.indexOf('\n') + 4;
        await client.write(text.slice(0, cut));
        await client.write(text.slice(cut));
        client.end();
      }),
    );
    const echoed = await Promise.all(clients.map((client) => client.readToEnd(WAIT_MS)));
    for (let i = 0; i < CLIENTS; i++) {
      assert.equal(echoed[i]?.toString(), sent[i], `client ${i} got someone else's bytes, or not all its own`);
    }

    const summaries = await events.closed(CLIENTS, WAIT_MS);
    assert.ok(summaries.every((summary) => summary.reason === 'client_closed'));
    const stats = server.stats;
    assert.equal(stats.connections.total, CLIENTS);
    assert.equal(stats.connections.active, 0);
    assert.equal(stats.connections.closed.client_closed, CLIENTS);
    assert.equal(stats.lines, CLIENTS * 2);
    const bytes = sent.reduce((sum, text) => sum + Buffer.byteLength(text), 0);
    assert.equal(stats.bytesReceived, bytes);
    assert.equal(stats.bytesSent, bytes);
  });
});
