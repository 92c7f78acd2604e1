// The shutdown tail rule, on the binary under every runtime: at a close echod starts (SIGTERM,
// the idle timeout) a client gets back only the lines it completed; an unterminated tail is a
// fragment it never finished and is dropped, its size in the close line (`discardedTailBytes`).
// Only the client's own FIN (a half-close) says the tail is complete, and then it is echoed.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Client } from '../../testkit/clients.js';
import { type EchodProcess, reporting, RUNTIMES, startEchod, type Started, Tracked } from '../../testkit/echod-process.js';

const TEST_TIMEOUT_MS = 20_000;
const LINES = 'abc\n';
const TAIL = 'partial';
const IDLE_MS = 300;
/** Long enough that the client's later bytes surely arrive while echod's close waits for the delayed echo. */
const DELAY_MS = 2_000;
const LATE_LINE = 'after-close\n';

/** What echod has read from connection `connId` so far, from its debug `message received` lines. */
function bytesRead(echod: EchodProcess, connId: unknown): number {
  return echod
    .all('message received')
    .filter((line) => line.connId === connId)
    .reduce((sum, line) => sum + (line.bytes as number), 0);
}

describe('the unterminated tail at a close echod starts', () => {
  for (const runtime of RUNTIMES) {
    describe(`under ${runtime}`, () => {
      const { processes, clients, track, cleanup } = new Tracked();
      afterEach(cleanup);

      // debug: each read's `message received` line says when echod holds the whole tail.
      const start = (extra: readonly string[] = []): Promise<Started> => startEchod(runtime, ['--log-level', 'debug', ...extra], track);

      /** A client that sent `abc\npartial`, once echod has read all of it (and echoed the line). */
      async function sentLineAndTail(echod: EchodProcess, port: number): Promise<Client> {
        const client = await Client.connect(port);
        clients.push(client);
        const { connId } = await echod.openOf(client);
        await client.write(LINES + TAIL);
        assert.equal(await client.readText(LINES), LINES);
        await echod.until(() => bytesRead(echod, connId) === LINES.length + TAIL.length, 'echod to read the tail');
        return client;
      }

      it(
        'SIGTERM: only the complete line comes back, then EOF; the close line says 7 tail bytes were dropped',
        { timeout: TEST_TIMEOUT_MS },
        reporting(processes, async () => {
          const { echod, port } = await start();
          const client = await sentLineAndTail(echod, port);
          echod.signal('SIGTERM');
          assert.equal((await client.readToEnd()).toString(), '', 'nothing after the complete line: not the fragment');
          const closed = await echod.closeOf(client);
          assert.equal(closed.reason, 'shutdown');
          assert.equal(closed.discardedTailBytes, TAIL.length);
          assert.equal(closed.bytesIn, LINES.length + TAIL.length);
          assert.equal(closed.bytesOut, LINES.length);
          assert.deepEqual(await echod.exited(), { code: 0, signal: null });
        }),
      );

      it(
        'SIGTERM while delayed echo is still held: lines that arrive before our FIN are echoed, the unfinished one is dropped and counted',
        { timeout: TEST_TIMEOUT_MS },
        reporting(processes, async () => {
          const { echod, port } = await start(['--delay', `${DELAY_MS}ms`]);
          const client = await Client.connect(port);
          clients.push(client);
          const { connId } = await echod.openOf(client);
          await client.write(LINES);
          await echod.until(() => bytesRead(echod, connId) === LINES.length, 'echod to read the first line');
          echod.signal('SIGTERM');
          await echod.line('shutting down');
          // The close has begun; our FIN waits for the held echo. What comes meanwhile was sent before it.
          await client.write(LATE_LINE + TAIL);
          const late = LINES.length + LATE_LINE.length + TAIL.length;
          await echod.until(() => bytesRead(echod, connId) === late, 'echod to read the late bytes');
          assert.equal((await client.readToEnd()).toString(), LINES + LATE_LINE, 'both complete lines, in order; not the fragment');
          const closed = await echod.closeOf(client);
          assert.equal(closed.reason, 'shutdown');
          assert.equal(closed.discardedTailBytes, TAIL.length);
          assert.equal(closed.bytesIn, LINES.length + LATE_LINE.length + TAIL.length);
          assert.equal(closed.bytesOut, LINES.length + LATE_LINE.length);
          assert.equal(closed.lines, 2);
        }),
      );

      it(
        'the idle timeout: the same, reason idle_timeout',
        { timeout: TEST_TIMEOUT_MS },
        reporting(processes, async () => {
          const { echod, port } = await start(['--idle-timeout', `${IDLE_MS}ms`]);
          const client = await sentLineAndTail(echod, port);
          assert.equal((await client.readToEnd()).toString(), '');
          const closed = await echod.closeOf(client);
          assert.equal(closed.reason, 'idle_timeout');
          assert.equal(closed.discardedTailBytes, TAIL.length);
          assert.equal(closed.bytesOut, LINES.length);
        }),
      );

      it(
        "the client's half-close completes the tail: it is echoed, nothing is dropped",
        { timeout: TEST_TIMEOUT_MS },
        reporting(processes, async () => {
          const { echod, port } = await start();
          const client = await sentLineAndTail(echod, port);
          client.end();
          assert.equal((await client.readToEnd()).toString(), TAIL);
          const closed = await echod.closeOf(client);
          assert.equal(closed.reason, 'client_closed');
          assert.equal(closed.discardedTailBytes, undefined, 'only a dropped tail is logged');
          assert.equal(closed.bytesOut, LINES.length + TAIL.length);
        }),
      );
    });
  }
});
