// On node, plain tcp listeners read their sockets directly into one read buffer shared by every
// connection (node-transport.ts, acceptDirect). Two things could go wrong there and nowhere
// else: bytes still waiting to be written could be overwritten by the next read of another
// connection, and input after our FIN could be echoed instead of discarded within its budget.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { CLOSE_DISCARD_LIMIT_BYTES } from '../../src/connection/connection.js';
import { Fixture, untilServerStopsReading } from '../../testkit/clients.js';

const MiB = 1024 * 1024;
const LINE_BYTES = 64;
const TEST_TIMEOUT_MS = 60_000;
const WAIT_MS = 20_000;

/** 64-byte lines, each starting with `tag` and its number, so no line can pass for another's. */
function taggedLines(tag: string, bytes: number): Buffer {
  const payload = Buffer.alloc(bytes, tag);
  for (let offset = 0, n = 0; offset < bytes; offset += LINE_BYTES, n++) {
    payload.write(`${tag}${n.toString(16).padStart(8, '0')}`, offset, 'latin1');
    payload[offset + LINE_BYTES - 1] = 0x0a;
  }
  return payload;
}

describe('direct reads through one shared buffer', () => {
  let fixture: Fixture | undefined;
  afterEach(() => fixture?.cleanup());

  for (const mode of ['line', 'raw'] as const) {
    it(
      `${mode} mode: echo waiting on a blocked client survives other clients' reads, byte for byte`,
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        fixture = await Fixture.start({ mode, writeStallTimeoutMs: 0 });
        const { server } = fixture;
        // The blocked client: the kernel stops taking its echo, so the server holds writes
        // that have not gone out (and stops reading it).
        const blocked = await fixture.connect({ read: false });
        const blockedPayload = taggedLines('a', 16 * MiB);
        blocked.socket.write(blockedPayload);
        await untilServerStopsReading(server, WAIT_MS);

        // Meanwhile others send different bytes, read into the same buffer many times over.
        const others = await Promise.all([fixture.connect(), fixture.connect(), fixture.connect()]);
        const otherPayloads = ['b', 'c', 'd'].map((tag) => taggedLines(tag, 4 * MiB));
        await Promise.all(
          others.map(async (client, i) => {
            const payload = otherPayloads[i] as Buffer;
            client.socket.write(payload);
            const echoed = await client.read(payload.length, WAIT_MS);
            assert.ok(echoed.equals(payload), `client ${i}'s echo differs from what it sent`);
          }),
        );

        blocked.startReading();
        const echoed = await blocked.read(blockedPayload.length, WAIT_MS);
        const firstDifference = echoed.findIndex((byte, at) => byte !== blockedPayload[at]);
        assert.equal(firstDifference, -1, `the blocked client's echo differs at byte ${firstDifference}`);
      },
    );
  }

  it('after our FIN, input is discarded up to its budget and then no longer read', { timeout: TEST_TIMEOUT_MS }, async () => {
    // The drain timeout ends it: with reading stopped, the server no longer hears from the client.
    fixture = await Fixture.start({ maxLineBytes: 64, drainTimeoutMs: 5000 });
    const { server, events } = fixture;
    const client = await fixture.connect({ allowHalfOpen: true });
    await client.write('fits\n');
    assert.equal(await client.readText('fits\n'), 'fits\n');
    // A line too long: the server echoes nothing more and sends its FIN; the client goes on
    // sending far more than the discard budget.
    const flood = Buffer.alloc(CLOSE_DISCARD_LIMIT_BYTES + 32 * MiB, 'x');
    client.socket.write(flood);
    assert.equal((await client.readToEnd(WAIT_MS)).length, 0, 'nothing is echoed after the line too long');
    const read = await untilServerStopsReading(server, WAIT_MS);
    assert.ok(read >= CLOSE_DISCARD_LIMIT_BYTES, `the server read only ${(read / MiB).toFixed(1)} MiB before stopping`);
    assert.ok(read < CLOSE_DISCARD_LIMIT_BYTES + 8 * MiB, `the server read ${(read / MiB).toFixed(1)} MiB, past the discard budget`);
    const [summary] = await events.closed(1, WAIT_MS);
    assert.equal(summary?.reason, 'line_too_long');
    assert.equal(summary?.forced, true, 'destroyed at the drain timeout');
    assert.equal(summary?.bytesSent, 'fits\n'.length);
  });
});
