// server.close(), as on SIGTERM: every complete line received is echoed (an unterminated tail is
// dropped and its size logged; test/shutdown-tail.test.ts), clients see EOF, stragglers are
// destroyed after drainTimeoutMs, new clients are served during shutdownDelayMs, and the state
// goes listening → stopping → draining → closed. close() is idempotent.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, it } from 'node:test';
import { createEchoServer, type EchoServer } from '../../src/server/server.js';
import { Fixture, HOST, ServerEvents, WAIT_MS } from '../../testkit/clients.js';
import type { RaceOutcome } from '../../testkit/listen-close-race.js';
import { poll, within } from '../../testkit/wait.js';

const TEST_TIMEOUT_MS = 10_000;

/** Resolves to the error code of a connection attempt that fails, or null if it connects. */
async function connectError(port: number): Promise<string | null> {
  const socket = netConnect({ host: HOST, port });
  socket.on('error', () => {});
  try {
    await within(once(socket, 'connect'), WAIT_MS, `connect to ${port}`);
    return null;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'UNKNOWN';
  } finally {
    socket.destroy();
  }
}

describe('shutdown', () => {
  let fixture: Fixture | undefined;
  afterEach(() => fixture?.cleanup());

  it(
    'echoes every complete line each client sent, not its unterminated tail, then every client sees EOF',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      fixture = await Fixture.start();
      const { server, events } = fixture;
      const first = await fixture.connect();
      const second = await fixture.connect();
      const firstSent = 'one\ntwo\npartial';
      const secondSent = 'b-line\nb-tail';
      await first.write(firstSent);
      await second.write(secondSent);
      // close() echoes what the server has read; make sure that is everything.
      await poll(() => server.stats.bytesReceived === firstSent.length + secondSent.length, 2000, 'the server to read both clients');

      await within(server.close(), WAIT_MS, 'server.close()');
      assert.equal((await first.readToEnd()).toString(), 'one\ntwo\n');
      assert.equal((await second.readToEnd()).toString(), 'b-line\n');
      const summaries = await events.closed(2);
      assert.deepEqual(
        summaries
          .map(({ reason, forced, discardedTailBytes }) => ({ reason, forced, discardedTailBytes }))
          .sort((a, b) => a.discardedTailBytes - b.discardedTailBytes),
        [
          { reason: 'shutdown', forced: false, discardedTailBytes: 'b-tail'.length },
          { reason: 'shutdown', forced: false, discardedTailBytes: 'partial'.length },
        ],
      );
      assert.equal(server.stats.connections.active, 0);
      assert.equal(server.state, 'closed');
      assert.equal(await connectError(fixture.port), 'ECONNREFUSED', 'nothing listens after close()');
    },
  );

  it('the state goes listening → stopping → draining → closed, and readiness turns off first', { timeout: TEST_TIMEOUT_MS }, async () => {
    const server = createEchoServer({ host: HOST, port: 0 });
    const events = new ServerEvents(server);
    const readiness: boolean[] = [];
    server.on('state', () => readiness.push(server.ready));
    try {
      assert.equal(server.state, 'idle');
      await server.listen();
      await within(server.close(), WAIT_MS, 'server.close()');
      assert.deepEqual(events.states, ['listening', 'stopping', 'draining', 'closed']);
      assert.deepEqual(readiness, [true, false, false, false]);
    } finally {
      await server.close();
    }
  });

  it('close() twice is harmless and returns the same promise', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start();
    const { server, events } = fixture;
    const client = await fixture.connect();
    const first = server.close();
    const second = server.close();
    assert.equal(first, second);
    await within(first, WAIT_MS, 'server.close()');
    assert.equal(server.close(), first, 'and the same one once closed');
    await server.close();
    assert.equal((await client.readToEnd()).length, 0);
    assert.equal(events.states.filter((state) => state === 'closed').length, 1, 'closed once');
  });

  it('close() before listen() closes at once, and listen() afterwards is refused', { timeout: TEST_TIMEOUT_MS }, async () => {
    const server = createEchoServer({ host: HOST, port: 0 });
    const events = new ServerEvents(server);
    await within(server.close(), WAIT_MS, 'server.close()');
    assert.deepEqual(events.states, ['closed']);
    await assert.rejects(server.listen(), { code: 'ERR_ECHOD_SERVER_STATE' });
  });

  it('drainTimeoutMs destroys a client that never closes its side', { timeout: TEST_TIMEOUT_MS }, async () => {
    const drainTimeoutMs = 200;
    fixture = await Fixture.start({ drainTimeoutMs });
    const { server, events } = fixture;
    const polite = await fixture.connect();
    // allowHalfOpen: it sees the server's FIN and still never ends.
    const stubborn = await fixture.connect({ allowHalfOpen: true });
    await stubborn.write('echo me\n');
    assert.equal(await stubborn.readText('echo me\n'), 'echo me\n');

    const started = performance.now();
    await within(server.close(), WAIT_MS, 'server.close()');
    const elapsed = performance.now() - started;
    assert.equal((await stubborn.readToEnd()).length, 0, 'the stubborn client saw EOF');
    assert.equal((await polite.readToEnd()).length, 0);
    const summaries = await events.closed(2);
    const forced = summaries.filter((summary) => summary.forced);
    assert.equal(forced.length, 1, 'only the stubborn client is forced');
    assert.equal(forced[0]?.reason, 'shutdown');
    assert.equal(server.stats.connections.forced, 1);
    assert.ok(elapsed >= drainTimeoutMs * 0.9, `destroyed after ${elapsed} ms, before drainTimeoutMs`);
    // The server's socket is gone: bytes the stubborn client sends now are answered by a reset
    // (which the client notices on its next write; it no longer reads after EOF).
    await poll(
      () => {
        if (!stubborn.closed) stubborn.socket.write('anyone there?\n');
        return stubborn.closed;
      },
      2000,
      'a reset from the destroyed server socket',
    );
    assert.ok(['ECONNRESET', 'EPIPE'].includes(stubborn.error?.code ?? ''), `expected a reset, got ${stubborn.error?.code ?? 'none'}`);
  });

  it('connections accepted during shutdownDelayMs are served, then drained', { timeout: TEST_TIMEOUT_MS }, async () => {
    const shutdownDelayMs = 500;
    fixture = await Fixture.start({ shutdownDelayMs });
    const { server, events } = fixture;
    const early = await fixture.connect();

    const started = performance.now();
    const closing = server.close();
    assert.equal(server.state, 'stopping');
    assert.equal(server.ready, false);
    const late = await fixture.connect();
    await late.write('served while stopping\n');
    assert.equal(await late.readText('served while stopping\n'), 'served while stopping\n');
    assert.equal(server.state, 'stopping', 'the echo came back within the delay');

    await within(closing, WAIT_MS, 'server.close()');
    assert.ok(performance.now() - started >= shutdownDelayMs * 0.9, 'close() waited for the delay');
    assert.equal((await late.readToEnd()).length, 0);
    assert.equal((await early.readToEnd()).length, 0);
    const summaries = await events.closed(2);
    assert.deepEqual(
      summaries.map((summary) => summary.reason),
      ['shutdown', 'shutdown'],
    );
    assert.equal(server.stats.connections.total, 2);
  });

  it('close() during listen() leaves nothing listening', { timeout: TEST_TIMEOUT_MS }, async () => {
    // In a child process: if the listener leaks, it must not keep this test process alive.
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('../../testkit/listen-close-race.ts', import.meta.url))],
      {
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    try {
      const [code] = (await within(once(child, 'exit'), WAIT_MS, 'the race script')) as [number | null];
      assert.equal(code, 0);
    } finally {
      child.kill('SIGKILL');
    }
    const outcome = JSON.parse(out) as RaceOutcome;
    assert.equal(outcome.finalState, 'closed', `states: ${outcome.states.join(' → ')}`);
    assert.equal(outcome.states.at(-1), 'closed', `states: ${outcome.states.join(' → ')}`);
    assert.equal(outcome.connectable, false, 'a client could connect after close() resolved');
  });

  it('close() after a failed listen() stays closed', { timeout: TEST_TIMEOUT_MS }, async () => {
    const holder = await Fixture.start();
    const server: EchoServer = createEchoServer({ host: HOST, port: holder.port });
    const events = new ServerEvents(server);
    try {
      await assert.rejects(server.listen(), { code: 'EADDRINUSE' });
      assert.equal(server.state, 'closed');
      await within(server.close(), WAIT_MS, 'server.close()');
      assert.deepEqual(events.states, ['closed']);
    } finally {
      await holder.cleanup();
    }
  });
});
