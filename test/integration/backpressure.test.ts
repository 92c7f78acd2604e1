// A client that sends 64 MiB without reading any of its echo: echod must not buffer it all.
// Once the kernel buffers between us are full, the server stops reading, so what it has read
// (and so what it can hold) stays bounded; when the client reads, every byte comes back exact.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Fixture, untilServerStopsReading } from '../../testkit/clients.js';

const MiB = 1024 * 1024;
const PAYLOAD_BYTES = 64 * MiB;
/**
 * What the server may have read while the client reads nothing: the kernel's send buffer toward
 * the client (up to net.ipv4.tcp_wmem's 4 MiB here), the client's receive buffer, and a few
 * stream highWaterMarks. Buffering the whole payload would be 64 MiB.
 */
const MAX_READ_WHILE_BLOCKED = 16 * MiB;
const LINE_BYTES = 64;
const TEST_TIMEOUT_MS = 30_000;
const WAIT_MS = 20_000;

/** 64-byte lines, each numbered, so a lost, doubled or reordered line cannot go unnoticed. */
function numberedLines(bytes: number): Buffer {
  const payload = Buffer.alloc(bytes, '.');
  for (let offset = 0, n = 0; offset < bytes; offset += LINE_BYTES, n++) {
    payload.write(n.toString(16).padStart(8, '0'), offset, 'latin1');
    payload[offset + LINE_BYTES - 1] = 0x0a;
  }
  return payload;
}

describe('backpressure', () => {
  let fixture: Fixture | undefined;
  afterEach(() => fixture?.cleanup());

  const payload = numberedLines(PAYLOAD_BYTES);

  for (const mode of ['line', 'raw'] as const) {
    it(
      `${mode} mode: a client that does not read holds the server to a bounded read, then gets every byte`,
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        // No write-stall timeout: this test is about holding, not about giving up.
        fixture = await Fixture.start({ mode, writeStallTimeoutMs: 0 });
        const { server, events } = fixture;
        const client = await fixture.connect({ read: false });
        client.socket.write(payload);

        const readWhileBlocked = await untilServerStopsReading(server, WAIT_MS);
        assert.ok(
          readWhileBlocked < MAX_READ_WHILE_BLOCKED,
          `the server read ${(readWhileBlocked / MiB).toFixed(1)} MiB from a client that reads nothing`,
        );
        assert.ok(client.socket.writableLength > 0, 'the backpressure reached the client: it still holds unsent bytes');
        assert.equal(events.closes.length, 0);

        client.startReading();
        const echoed = await client.read(PAYLOAD_BYTES, WAIT_MS);
        assert.ok(echoed.equals(payload), 'the echo differs from what was sent');
        client.end();
        assert.equal((await client.readToEnd()).length, 0);
        const [summary] = await events.closed(1);
        assert.equal(summary?.reason, 'client_closed');
        assert.equal(summary?.bytesReceived, PAYLOAD_BYTES);
        assert.equal(summary?.bytesSent, PAYLOAD_BYTES);
      },
    );
  }
});
