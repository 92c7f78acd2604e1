// The built `echod` binary, end to end, on SIGTERM with --shutdown-delay: /readyz turns 503 at
// once while /healthz stays 200, new connections are still served during the delay, a client
// with lines in flight gets every one of them echoed, the process exits 0, and the last log
// line is `closed` with the totals. A second signal cuts the delay short.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { request } from '../../testkit/admin-http.js';
import { Client, WAIT_MS } from '../../testkit/clients.js';
import { echoes, EchodProcess, startEchod } from '../../testkit/echod-process.js';

const TEST_TIMEOUT_MS = 20_000;
const SHUTDOWN_DELAY_MS = 1000;
/** Far more than loopback's socket buffers hold, so a client that does not read blocks the server. */
const BACKPRESSURE_LINES = 2_000_000;
/** Reads of /stats in a row with the same count that say the server has stopped reading. */
const STEADY_READS = 10;

/** echod on 127.0.0.1, port 0, with the admin endpoint on port 0 (the kit checks it is private); resolves once it serves. */
async function startWithAdmin(extra: readonly string[]): Promise<{ echod: EchodProcess; port: number; adminPort: number }> {
  let spawned: EchodProcess | undefined;
  try {
    const started = await startEchod('node', ['--admin-port', '0', ...extra], (echod) => (spawned = echod));
    return { echod: started.echod, port: started.port, adminPort: started.adminPort as number };
  } catch (err) {
    await spawned?.stop();
    throw err;
  }
}

describe('echod --shutdown-delay (the binary, end to end)', { timeout: TEST_TIMEOUT_MS }, () => {
  let echod: EchodProcess | undefined;
  const clients: Client[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await echod?.stop();
    echod = undefined;
  });

  it('SIGTERM: /readyz 503 at once, /healthz 200, new clients served, lines in flight echoed, exit 0, `closed` last', async () => {
    const started = await startWithAdmin(['--shutdown-delay', `${SHUTDOWN_DELAY_MS / 1000}s`]);
    echod = started.echod;
    const { port, adminPort } = started;
    assert.equal((await request(adminPort, '/readyz')).status, 200);
    assert.equal((await request(adminPort, '/healthz')).status, 200);

    const busy = await Client.connect(port);
    clients.push(busy);
    let busySent = 'before the signal\n';
    await echoes(busy, busySent);

    const signalledAt = performance.now();
    echod.signal('SIGTERM');
    await echod.line('shutting down');
    const notReady = await request(adminPort, '/readyz');
    assert.equal(notReady.status, 503, '/readyz turns 503 as soon as the signal is handled');
    assert.equal(notReady.body, 'stopping\n');
    const alive = await request(adminPort, '/healthz');
    assert.equal(alive.status, 200, '/healthz stays 200 while draining');

    // A client that connects after the signal, during the delay, is served.
    const late = await Client.connect(port);
    clients.push(late);
    await echoes(late, 'connected during the delay\n');

    // Lines in flight: sent during the delay and not read back yet, an unfinished one last.
    const inFlight = `${Array.from({ length: 500 }, (_, i) => `in flight ${i}\n`).join('')}unfinished tail`;
    await busy.write(inFlight);
    busySent += inFlight;
    assert.equal((await request(adminPort, '/readyz')).status, 503, 'still not ready');
    assert.equal((await request(adminPort, '/healthz')).status, 200, 'still alive');

    const drainWait = SHUTDOWN_DELAY_MS + WAIT_MS;
    // The unterminated tail is a fragment: at a close echod starts it is not echoed (README, Behaviour).
    const tail = 'unfinished tail';
    assert.equal(
      (await busy.readToEnd(drainWait)).toString(),
      inFlight.slice(0, -tail.length),
      'every line in flight echoed before EOF, not the tail',
    );
    assert.equal((await late.readToEnd(drainWait)).length, 0, 'the late client sees EOF');

    const exit = await echod.exited(drainWait);
    assert.deepEqual(exit, { code: 0, signal: null }, 'exits 0 by itself');
    const elapsed = performance.now() - signalledAt;
    assert.ok(elapsed >= SHUTDOWN_DELAY_MS * 0.9, `exited ${Math.round(elapsed)} ms after SIGTERM, before the delay was over`);

    const last = echod.logs.at(-1);
    assert.ok(last !== undefined);
    const lateSent = 'connected during the delay\n';
    const countLines = (text: string): number => text.split('\n').length - 1;
    assert.equal(last.msg, 'closed', `the last log line: ${JSON.stringify(last)}`);
    assert.equal(last.connections, 2);
    assert.equal(last.forced, 0);
    assert.equal(last.bytesReceived, busySent.length + lateSent.length);
    assert.equal(last.bytesSent, busySent.length - tail.length + lateSent.length);
    assert.equal(last.lines, countLines(busySent) + countLines(lateSent));
    const closes = echod.logs.filter((line) => line.msg === 'connection closed');
    assert.deepEqual(
      closes.map((line) => line.reason),
      ['shutdown', 'shutdown'],
    );
  });

  it('SIGTERM: a client whose echo is held back by backpressure still gets every byte the server had received', {}, async () => {
    const started = await startWithAdmin(['--shutdown-delay', `${SHUTDOWN_DELAY_MS / 1000}s`]);
    echod = started.echod;
    const { port, adminPort } = started;
    const stats = async (): Promise<{ bytesReceived: number }> =>
      JSON.parse((await request(adminPort, '/stats')).body) as { bytesReceived: number };
    // Does not read: the server's echo backs up, it pauses reading, and lines pile up in flight.
    const slow = await Client.connect(port, { read: false });
    clients.push(slow);
    const payload = Buffer.from(Array.from({ length: BACKPRESSURE_LINES }, (_, i) => `in flight ${i}\n`).join(''));
    slow.socket.write(payload);
    // No event says "the server has stopped reading": ask /stats until the count holds still.
    let received = -1;
    let steady = 0;
    const deadline = Date.now() + WAIT_MS;
    while (steady < STEADY_READS) {
      assert.ok(Date.now() < deadline, 'the server stops reading from a client that does not read');
      const now = (await stats()).bytesReceived;
      steady = now === received ? steady + 1 : 0;
      received = now;
    }
    assert.ok(received > 0 && received < payload.length, `blocked after ${received} of ${payload.length} bytes`);

    echod.signal('SIGTERM');
    await echod.line('shutting down');
    // Start reading only once the drain has begun: before that, reading would let the server read on.
    const deadline2 = Date.now() + SHUTDOWN_DELAY_MS + WAIT_MS;
    while ((await request(adminPort, '/readyz')).body !== 'draining\n') {
      assert.ok(Date.now() < deadline2, 'the drain to begin');
    }
    slow.startReading();
    const echoed = await slow.readToEnd(WAIT_MS * 2);
    assert.ok(echoed.equals(payload.subarray(0, echoed.length)), 'the echo is a prefix of what was sent, in order');
    // Every complete line received; a line cut short by the backpressure is a fragment, not echoed (README, Behaviour).
    const completeLines = payload.subarray(0, received).lastIndexOf(0x0a) + 1;
    assert.ok(
      echoed.length >= completeLines,
      `echoed ${echoed.length} bytes; the server had received ${received} (${completeLines} in complete lines) when the drain began`,
    );
    assert.equal(echoed.at(-1), 0x0a, 'the echo ends with a complete line');
    assert.deepEqual(await echod.exited(WAIT_MS), { code: 0, signal: null });
  });

  it('a second SIGTERM during the delay exits at once, not zero', async () => {
    const longDelayMs = 60_000;
    const started = await startWithAdmin(['--shutdown-delay', `${longDelayMs / 1000}s`]);
    echod = started.echod;
    echod.signal('SIGTERM');
    await echod.line('shutting down');
    assert.equal((await request(started.adminPort, '/readyz')).status, 503);
    echod.signal('SIGTERM');
    // Well within the 60 s delay.
    const exit = await echod.exited(WAIT_MS);
    assert.equal(exit.signal, null, 'exits by itself, not killed by the signal');
    assert.notEqual(exit.code, 0, 'an interrupted drain is not a clean exit');
    assert.ok(
      echod.logs.some((line) => line.msg === 'second signal, exiting at once'),
      'says why it exited early',
    );
  });
});
