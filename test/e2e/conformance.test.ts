// One conformance suite, run against the built binary under every runtime echod supports
// (Node's node:net and Bun's Bun.listen): what a client sees on the wire, what the log says
// about each connection, and what the admin endpoint answers must be the same on both.
// Each case spawns `echod --host 127.0.0.1 --port 0 [flags]`, reads the port from its
// `listening` line and talks to it over real loopback sockets. A missing Bun fails the Bun
// cases (CI installs it): it is never skipped.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { request } from '../../testkit/admin-http.js';
import { Client, type ClientOptions, WAIT_MS } from '../../testkit/clients.js';
import {
  adminGet,
  echoes,
  type EchodProcess,
  LEVEL,
  localPort,
  type LogLine,
  metric,
  reporting,
  type Runtime,
  RUNTIMES,
  startEchod,
  type Started,
  stats,
  untilReceivingStops,
  untilStats,
  Tracked,
} from '../../testkit/echod-process.js';
import { parsePrometheus } from '../../testkit/prometheus.js';

const TEST_TIMEOUT_MS = 20_000;
/** Cases that move tens of MiB through loopback. */
const BULK_TEST_TIMEOUT_MS = 40_000;
/** More than loopback's socket buffers (both directions) can ever hold. */
const BACKPRESSURE_BYTES = 32 * 1024 * 1024;
const BACKPRESSURE_LINE_BYTES = 32;
/** What a client is still sending when the server closes on it: more than one read's worth, and than the socket buffers. */
const STILL_SENDING_BYTES = 16 * 1024 * 1024;
/** How often a "talking" client sends its next line (well inside the timeouts under test). */
const TALK_INTERVAL_MS = 100;
const WRITE_STALL_MS = 1000;
const IDLE_MS = 500;
const MAX_LINE_BYTES = 16;

/**
 * Cases that fail under one runtime because of a real bug in src/: kept, and reported as todo
 * until the fix lands. Keyed by runtime, then by the case's title.
 */
const KNOWN_BUGS: Readonly<Record<Runtime, Readonly<Record<string, string>>>> = {
  node: {},
  bun: {},
};

const countLines = (data: Buffer | string): number => {
  const buffer = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  let count = 0;
  for (let at = buffer.indexOf(0x0a); at !== -1; at = buffer.indexOf(0x0a, at + 1)) count++;
  return count;
};

/** Lines of every kind a client may send: CRLF, bare CR, empty, NUL, invalid UTF-8, all 256 byte values. */
function awkwardLines(blocks: number): Buffer {
  const everyByte = Buffer.from(Array.from({ length: 256 }, (_, i) => i)); // holds a \n at 0x0a: two lines
  const parts: Buffer[] = [];
  for (let i = 0; i < blocks; i++) {
    parts.push(
      Buffer.from(`line ${i}\n`),
      Buffer.from('crlf\r\n'),
      Buffer.from('\r\n'),
      Buffer.from('\n'),
      Buffer.from('bare\rcr\n'),
      Buffer.from([0x00, 0x61, 0x00, 0x00, 0x0a]),
      // Lone continuation byte, overlong NUL, a surrogate half, bytes UTF-8 never uses.
      Buffer.from([0x80, 0xc0, 0x80, 0xed, 0xa0, 0x80, 0xf8, 0xfe, 0xff, 0x0a]),
      everyByte,
      Buffer.from('\n'),
    );
  }
  return Buffer.concat(parts);
}

/** 32-byte lines, each numbered, so any loss, duplication or reordering shows. */
function numberedLines(totalBytes: number): Buffer {
  const buffer = Buffer.alloc(totalBytes);
  const filler = 'x'.repeat(BACKPRESSURE_LINE_BYTES - 10);
  for (let i = 0, at = 0; at < totalBytes; i++, at += BACKPRESSURE_LINE_BYTES) {
    buffer.write(`${String(i).padStart(8, '0')} ${filler}\n`, at, 'latin1');
  }
  return buffer;
}

/**
 * A client that keeps talking: one line echoed every TALK_INTERVAL_MS (its cadence is the
 * behaviour under test, not a wait) until `stop()` holds. Rejects as soon as an echo fails.
 * Resolves to the number of lines echoed.
 */
async function talk(client: Client, stop: () => boolean): Promise<number> {
  let rounds = 0;
  while (!stop()) {
    await echoes(client, `still here ${rounds}\n`);
    rounds++;
    await new Promise((resolve) => setTimeout(resolve, TALK_INTERVAL_MS));
  }
  return rounds;
}

describe('conformance: the echod binary under every runtime', () => {
  for (const runtime of RUNTIMES) {
    describe(`under ${runtime}`, () => {
      const { processes, clients, track, cleanup } = new Tracked();
      afterEach(cleanup);

      const start = (extra: readonly string[] = []): Promise<Started> => startEchod(runtime, extra, track);

      async function connect(port: number, options: ClientOptions = {}): Promise<Client> {
        const client = await Client.connect(port, options);
        clients.push(client);
        localPort(client); // remembered while the socket still knows it
        return client;
      }

      /**
       * echod with its admin endpoint, and a client that writes BACKPRESSURE_BYTES of lines and
       * reads nothing, once echod has stopped reading from it (`received`: what echod took).
       */
      async function blockedWriter(): Promise<{
        echod: EchodProcess;
        adminPort: number;
        client: Client;
        payload: Buffer;
        received: number;
      }> {
        const { echod, port, adminPort } = await start(['--admin-port', '0']);
        assert.ok(adminPort !== undefined);
        const client = await connect(port, { read: false });
        const payload = numberedLines(BACKPRESSURE_BYTES);
        client.socket.write(payload);
        return { echod, adminPort, client, payload, received: await untilReceivingStops(adminPort) };
      }

      /** One case: `it` with its timeout, and `todo` when it hits a known src bug under this runtime. */
      function conformance(title: string, timeout: number, fn: () => Promise<void>): void {
        const bug = KNOWN_BUGS[runtime][title];
        it(title, bug === undefined ? { timeout } : { timeout, todo: bug }, reporting(processes, fn));
      }

      /** No `connection closed` line for `client`'s connection (yet). */
      function stillOpen(echod: EchodProcess, client: Client): boolean {
        const port = localPort(client);
        return !echod.logs.some((line) => line.msg === 'connection closed' && line.remotePort === port);
      }

      conformance(
        'pipelined lines come back byte-exact and in order: CRLF, NUL, invalid UTF-8, every byte value',
        TEST_TIMEOUT_MS,
        async () => {
          const { echod, port } = await start();
          const client = await connect(port);
          const payload = awkwardLines(2000);
          await client.write(payload);
          const back = await client.read(payload.length, WAIT_MS * 2);
          assert.ok(back.equals(payload), 'the echo is byte-for-byte what was sent');
          client.end();
          assert.equal((await client.readToEnd()).length, 0, 'nothing more than the lines');
          const closed = await echod.closeOf(client);
          assert.equal(closed.reason, 'client_closed');
          assert.equal(closed.bytesIn, payload.length);
          assert.equal(closed.bytesOut, payload.length);
          assert.equal(closed.lines, countLines(payload));
          assert.equal(closed.level, LEVEL.info);
          assert.deepEqual(echod.unparsed, [], 'stdout is JSON lines');
        },
      );

      conformance('a line sent one byte per write comes back whole, and not before its newline', TEST_TIMEOUT_MS, async () => {
        const { port, adminPort } = await start(['--admin-port', '0']);
        assert.ok(adminPort !== undefined);
        const client = await connect(port);
        const line = Buffer.from('one byte at a time \r\0\xff\xfe end\n', 'latin1');
        for (const byte of line.subarray(0, -1)) await client.write(Buffer.of(byte));
        await untilStats(adminPort, (body) => body.bytesReceived === line.length - 1, 'the server to receive every byte but the newline');
        assert.equal(client.pendingBytes, 0, 'a line without its newline is not echoed yet');
        await client.write('\n');
        assert.ok((await client.read(line.length)).equals(line));
        assert.equal(client.pendingBytes, 0);
      });

      conformance('half-close: pending lines and the unterminated tail are echoed, then EOF', TEST_TIMEOUT_MS, async () => {
        const { echod, port } = await start();
        const client = await connect(port);
        const sent = Buffer.from('first\nsecond\r\nunterminated tail \x00\xff', 'latin1');
        await client.write(sent);
        client.end();
        const back = await client.readToEnd();
        assert.ok(back.equals(sent), `echoed ${JSON.stringify(back.toString('latin1'))}`);
        assert.ok(client.ended, 'the server closed its side with FIN');
        const closed = await echod.closeOf(client);
        assert.equal(closed.reason, 'client_closed');
        assert.equal(closed.lines, 2);
        assert.equal(closed.bytesOut, sent.length);
      });

      conformance(
        '--max-line-bytes: the lines before an over-long line are echoed, then the connection closes (line_too_long)',
        TEST_TIMEOUT_MS,
        async () => {
          const { echod, port } = await start(['--max-line-bytes', String(MAX_LINE_BYTES)]);
          const bystander = await connect(port);
          const client = await connect(port);
          const longest = `${'a'.repeat(MAX_LINE_BYTES - 1)}\n`; // exactly the limit, newline included
          await echoes(client, longest);
          const before = `short\r\n${'b'.repeat(MAX_LINE_BYTES - 1)}\n`;
          await client.write(`${before}${'c'.repeat(MAX_LINE_BYTES)}\nnever echoed\n`);
          assert.equal((await client.readToEnd()).toString('latin1'), before, 'the complete lines before the over-long one, then EOF');
          const closed = await echod.closeOf(client);
          assert.equal(closed.reason, 'line_too_long');
          assert.equal(closed.lines, countLines(longest + before));
          await echoes(bystander, 'unaffected\n');
        },
      );

      conformance(
        '--max-line-bytes: a client still sending when its line is cut off gets the lines before it, then EOF, not a reset',
        TEST_TIMEOUT_MS,
        async () => {
          const { echod, port } = await start(['--max-line-bytes', String(MAX_LINE_BYTES)]);
          const client = await connect(port);
          const before = 'ok 1\nok 2\n';
          // An endless line: the client is still sending when the server cuts it off and closes.
          client.socket.write(Buffer.concat([Buffer.from(before), Buffer.alloc(STILL_SENDING_BYTES, 'x')]));
          assert.equal((await client.readToEnd()).toString('latin1'), before, 'the lines before the over-long one, then EOF');
          assert.equal(client.error, null, 'closed with FIN, not a reset');
          const closed = await echod.closeOf(client);
          assert.equal(closed.reason, 'line_too_long');
          assert.equal(closed.bytesOut, before.length);
        },
      );

      conformance(
        'backpressure: a client that does not read stops the server reading; then every byte comes back',
        BULK_TEST_TIMEOUT_MS,
        async () => {
          const { echod, adminPort, client, payload, received } = await blockedWriter();
          assert.ok(received > 0, 'the server read something');
          // Socket buffers hold a few MiB; a server that kept reading would have taken all 32.
          assert.ok(received < payload.length / 2, `the server stopped reading after ${received} of ${payload.length} bytes`);
          assert.equal((await stats(adminPort)).connections.active, 1, 'blocked, not disconnected');

          client.startReading();
          const back = await client.read(payload.length, 20_000);
          assert.ok(back.equals(payload), 'every byte back, in order');
          client.end();
          assert.equal((await client.readToEnd()).length, 0);
          const closed = await echod.closeOf(client);
          assert.equal(closed.reason, 'client_closed');
          assert.equal(closed.bytesIn, payload.length);
          assert.equal(closed.bytesOut, payload.length);
        },
      );

      conformance(
        '--write-stall-timeout: a client that takes none of its echo is disconnected (write_stalled); another keeps echoing',
        TEST_TIMEOUT_MS,
        async () => {
          const { echod, port } = await start(['--write-stall-timeout', `${WRITE_STALL_MS}ms`]);
          const talker = await connect(port);
          const stalled = await connect(port, { read: false });
          const stalledOpen = await echod.openOf(stalled);
          let stalledClosed: LogLine | undefined;
          const talking = talk(talker, () => stalledClosed !== undefined);
          talking.catch(() => {}); // awaited below; a failure must not go unhandled meanwhile
          stalled.socket.write(numberedLines(BACKPRESSURE_BYTES));
          try {
            stalledClosed = await echod.closeOf(stalled, WRITE_STALL_MS + WAIT_MS);
          } finally {
            stalledClosed ??= stalledOpen; // stop the talker whatever happened
          }
          const rounds = await talking;
          assert.equal(stalledClosed.reason, 'write_stalled');
          assert.ok(
            (stalledClosed.durationMs as number) >= WRITE_STALL_MS,
            `closed after ${String(stalledClosed.durationMs)} ms, before the timeout`,
          );
          await stalled.waitClosed();
          assert.ok(rounds > 0, 'the other client echoed while the stalled one was held');
          await echoes(talker, 'after the stall\n');
          assert.ok(stillOpen(echod, talker), 'the talking client is still connected');
        },
      );

      conformance('--idle-timeout: an idle client is closed (idle_timeout); one that keeps talking is not', TEST_TIMEOUT_MS, async () => {
        const { echod, port } = await start(['--idle-timeout', `${IDLE_MS}ms`]);
        const talker = await connect(port);
        const idle = await connect(port);
        const talkerOpened = performance.now();
        let idleClosed = false;
        // Talk until the idle one is gone and the talker has lived through several idle timeouts.
        const talking = talk(talker, () => idleClosed && performance.now() - talkerOpened >= 3 * IDLE_MS);
        talking.catch(() => {}); // awaited below; a failure must not go unhandled meanwhile
        let closed: LogLine;
        try {
          assert.equal((await idle.readToEnd(IDLE_MS + WAIT_MS)).length, 0, 'the idle client sees EOF');
          closed = await echod.closeOf(idle);
        } finally {
          idleClosed = true;
        }
        await talking;
        assert.equal(closed.reason, 'idle_timeout');
        assert.ok((closed.durationMs as number) >= IDLE_MS, `closed after ${String(closed.durationMs)} ms, before the timeout`);
        assert.ok(stillOpen(echod, talker), 'the talking client was not closed');
        await echoes(talker, 'still served\n');
      });

      conformance(
        '--max-connections 2: a third connection is closed at once and counted; the first two still echo',
        TEST_TIMEOUT_MS,
        async () => {
          const { echod, port, adminPort } = await start(['--max-connections', '2', '--admin-port', '0']);
          assert.ok(adminPort !== undefined);
          const first = await connect(port);
          const second = await connect(port);
          await echod.openOf(first);
          await echod.openOf(second);

          let third: Client | undefined;
          try {
            third = await connect(port);
          } catch (err) {
            assert.equal((err as NodeJS.ErrnoException).code, 'ECONNRESET', 'refused by a reset, if before connect completed');
          }
          if (third !== undefined) {
            await third.waitClosed();
            assert.equal(third.pendingBytes, 0, 'the third connection got nothing');
          }
          const rejected = await echod.log((line) => line.msg === 'connection rejected', '"connection rejected"');
          assert.equal(rejected.reason, 'max_connections');
          assert.equal(echod.all('connection opened').length, 2, 'the third was never served');
          assert.equal(rejected.listener, echod.all('connection opened')[0]?.listener, 'the line names the listener that refused');

          const scrape = parsePrometheus(await adminGet(adminPort, '/metrics'));
          assert.equal(metric(scrape, 'echod_connections_rejected_total', { reason: 'max_connections' }), 1);
          assert.equal(metric(scrape, 'echod_connections_active'), 2);
          await echoes(first, 'first still here\n');
          await echoes(second, 'second still here\n');
        },
      );

      conformance('a client reset mid-line closes that connection (reset); the server keeps serving', TEST_TIMEOUT_MS, async () => {
        // debug: each chunk's `message received` line says when the server has read it.
        const { echod, port } = await start(['--log-level', 'debug']);
        const bystander = await connect(port);
        const resetter = await connect(port);
        const { connId } = await echod.openOf(resetter);
        await echoes(resetter, 'a whole line\n');
        await resetter.write('half a li');
        const sent = 'a whole line\nhalf a li'.length;
        const received = (): number =>
          echod.logs
            .filter((line) => line.msg === 'message received' && line.connId === connId)
            .reduce((sum, line) => sum + (line.bytes as number), 0);
        await echod.until(() => received() === sent, 'the server to read the partial line');
        resetter.socket.resetAndDestroy();

        const closed = await echod.closeOf(resetter);
        assert.equal(closed.reason, 'reset');
        assert.equal(closed.lines, 1);
        await echoes(bystander, 'unaffected\n');
        const newcomer = await connect(port);
        await echoes(newcomer, 'still serving\n');
      });

      conformance('--mode raw: bytes are echoed as they come, without waiting for a newline', TEST_TIMEOUT_MS, async () => {
        const { echod, port } = await start(['--mode', 'raw']);
        const listening = await echod.line('listening');
        assert.equal(listening.mode, 'raw');
        const client = await connect(port);
        await echoes(client, 'no newline here');
        await echoes(client, Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
        await echoes(client, 'x');
        client.end();
        assert.equal((await client.readToEnd()).length, 0);
        const closed = await echod.closeOf(client);
        assert.equal(closed.reason, 'client_closed');
        assert.equal(closed.bytesIn, closed.bytesOut);
        assert.equal(closed.bytesIn, 'no newline here'.length + 256 + 1);
      });

      conformance(
        'SIGTERM with lines in flight: every complete one echoed, EOF, exit code 0, `closed` logged last',
        TEST_TIMEOUT_MS,
        async () => {
          const { echod, port } = await start(['--log-level', 'debug']);
          const first = await connect(port);
          const second = await connect(port);
          const firstSent = `${Array.from({ length: 200 }, (_, i) => `first ${i}\n`).join('')}unfinished`;
          const secondSent = 'three\r\nfour\n\x00tail';
          await first.write(firstSent);
          await second.write(Buffer.from(secondSent, 'latin1'));
          const total = firstSent.length + secondSent.length;
          const received = (): number => echod.all('message received').reduce((sum, line) => sum + (line.bytes as number), 0);
          await echod.until(() => received() === total, 'every byte received');

          echod.signal('SIGTERM');
          // The unterminated tails are fragments the clients never finished: not echoed (README, Behaviour).
          const firstLines = firstSent.slice(0, firstSent.lastIndexOf('\n') + 1);
          const secondLines = secondSent.slice(0, secondSent.lastIndexOf('\n') + 1);
          assert.equal((await first.readToEnd()).toString('latin1'), firstLines);
          assert.equal((await second.readToEnd()).toString('latin1'), secondLines);
          assert.deepEqual(await echod.exited(WAIT_MS * 2), { code: 0, signal: null });
          const last = echod.logs.at(-1);
          assert.equal(last?.msg, 'closed', `the last log line: ${JSON.stringify(last)}`);
          assert.equal(last.bytesReceived, total);
          assert.equal(last.bytesSent, firstLines.length + secondLines.length);
          assert.equal(last.lines, countLines(firstSent) + countLines(secondSent));
          assert.deepEqual(
            echod.all('connection closed').map((line) => line.reason),
            ['shutdown', 'shutdown'],
          );
        },
      );

      conformance(
        'SIGTERM while a client still sending is held back by backpressure: every complete line received is echoed, then EOF, exit 0',
        BULK_TEST_TIMEOUT_MS,
        async () => {
          const { echod, client, payload, received } = await blockedWriter();
          assert.ok(received < payload.length / 2, `blocked after ${received} of ${payload.length} bytes, the client still sending`);

          echod.signal('SIGTERM');
          await echod.line('shutting down');
          client.startReading();
          const back = await client.readToEnd(WAIT_MS * 2);
          assert.equal(client.error, null, 'closed with FIN, not a reset');
          // Every complete line received when the drain began; a line cut short there is dropped.
          const completed = received - (received % BACKPRESSURE_LINE_BYTES);
          assert.equal(back.length, completed, 'exactly the complete lines the server had received when the drain began');
          assert.ok(back.equals(payload.subarray(0, completed)), 'byte-exact, in order');
          const closed = await echod.closeOf(client);
          assert.equal(closed.reason, 'shutdown');
          assert.equal(closed.bytesOut, completed);
          assert.equal(closed.discardedTailBytes ?? 0, received - completed);
          assert.deepEqual(await echod.exited(WAIT_MS * 2), { code: 0, signal: null });
          assert.equal(echod.logs.at(-1)?.msg, 'closed');
        },
      );

      conformance('the admin endpoint answers /healthz, /readyz, /stats and /metrics', TEST_TIMEOUT_MS, async () => {
        const { echod, port, adminPort } = await start(['--admin-port', '0']);
        assert.ok(adminPort !== undefined);
        const health = await request(adminPort, '/healthz');
        assert.equal(health.status, 200);
        const ready = await request(adminPort, '/readyz');
        assert.equal(ready.status, 200);

        const client = await connect(port);
        await echod.openOf(client);
        const sent = 'counted\nand counted\n';
        await echoes(client, sent);
        const body = await stats(adminPort);
        assert.equal(body.state, 'listening');
        assert.equal(body.ready, true);
        assert.equal(body.connections.active, 1);
        assert.equal(body.connections.total, 1);
        assert.equal(body.bytesReceived, sent.length);
        assert.equal(body.bytesSent, sent.length);
        assert.equal(body.lines, countLines(sent));
        assert.equal(body.internalErrors, 0);

        const scrape = parsePrometheus(await adminGet(adminPort, '/metrics'));
        assert.equal(metric(scrape, 'echod_lines_total'), countLines(sent));
        assert.equal(metric(scrape, 'echod_connections_active'), 1);
        assert.equal(scrape.all('echod_build_info').length, 1);
      });
    });
  }
});
