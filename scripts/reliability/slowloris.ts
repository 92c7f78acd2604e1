// Scenario 3: slowloris. 2,000 connections each send one byte a second for 10 s, while
// bystanders are timed. echod's rules, as documented, are the only defence and the test holds
// it to them: a connection that sends a byte a second is not idle (idle = no bytes either way
// for --idle-timeout), so it stays and its lines come back; a slow line still may not pass
// --max-line-bytes; a connection that goes quiet is closed after --idle-timeout. Slowness
// must cost the bystanders nothing.
import { countLines, mapLimit, Client, LOADED_WAIT_MS } from '../../testkit/clients.js';
import { Recorder, runAttack, type ScenarioResult } from './scenario.js';
import { delay } from '../../testkit/wait.js';

/** Trickles "abcd\n", one byte a tick: stays open, gets its complete lines back. */
const TRICKLERS = 1600;
/** Sends 60 bytes at once, then one more byte a tick, never a newline: passes max-line-bytes on tick 4. */
const CREEPERS = 200;
/** Sends one byte, then nothing: idle. */
const SILENT = 200;
const TOTAL = TRICKLERS + CREEPERS + SILENT;
const TICKS = 10;
const TICK_MS = 1000;
/** Each tick is spread over this many slots so the 2,000 bytes do not leave in one burst. */
const SLOTS = 20;
const MAX_LINE_BYTES = 64;
const CREEP_BURST = 60;
const IDLE_TIMEOUT_MS = 3000;
/** Deadlines fire at most two sweeps (a tenth of the timeout each) late; allow scheduling on top. */
const IDLE_LATE_BOUND_MS = IDLE_TIMEOUT_MS + 2 * (IDLE_TIMEOUT_MS / 10) + 1000;
const CONNECT_CONCURRENCY = 100;
const TRICKLE = Buffer.from('abcd\n');

export async function slowloris(): Promise<ScenarioResult> {
  const rec = new Recorder('slowloris', '3. Slowloris: 2,000 connections at one byte per second');
  rec.load =
    `${TOTAL} connections, 1 byte/s each for ${TICKS} s: ${TRICKLERS} trickle "abcd\\n", ${CREEPERS} trickle a line already ${CREEP_BURST} bytes long, ` +
    `${SILENT} send 1 byte then go quiet; --idle-timeout ${IDLE_TIMEOUT_MS / 1000}s --max-line-bytes ${MAX_LINE_BYTES}`;
  const flags = ['--idle-timeout', `${IDLE_TIMEOUT_MS / 1000}s`, '--max-line-bytes', String(MAX_LINE_BYTES)];
  return runAttack(rec, { flags, bystanderLineBytes: 48 }, async ({ echod, endAttack }) => {
    const connectStart = performance.now();
    const peers = await mapLimit(TOTAL, CONNECT_CONCURRENCY, () =>
      Client.connect(echod.port, { waitMs: LOADED_WAIT_MS, allowHalfOpen: true }),
    );
    rec.figure('time to open 2,000 connections', `${((performance.now() - connectStart) / 1000).toFixed(1)} s`);
    const tricklers = peers.slice(0, TRICKLERS);
    const creepers = peers.slice(TRICKLERS, TRICKLERS + CREEPERS);
    const silent = peers.slice(TRICKLERS + CREEPERS);
    const sentCount = new Map<Client, number>();
    const lastByteAt = new Map<Client, number>();
    for (const peer of creepers) peer.socket.write(Buffer.alloc(CREEP_BURST, 'c'));
    for (const peer of silent) {
      peer.socket.write('q');
      lastByteAt.set(peer, performance.now());
    }

    // One byte a second per connection, each in its slot of the second: fixed pacing.
    const start = performance.now();
    for (let tick = 0; tick < TICKS; tick++) {
      for (let slot = 0; slot < SLOTS; slot++) {
        const at = start + tick * TICK_MS + (slot * TICK_MS) / SLOTS;
        await delay(Math.max(0, at - performance.now()));
        for (let i = slot; i < TRICKLERS + CREEPERS; i += SLOTS) {
          const peer = peers[i] as Client;
          if (peer.ended || peer.closed) continue;
          const n = sentCount.get(peer) ?? 0;
          peer.socket.write(i < TRICKLERS ? TRICKLE.subarray(n % TRICKLE.length, (n % TRICKLE.length) + 1) : 'c');
          sentCount.set(peer, n + 1);
        }
      }
    }
    const expectedEcho = Buffer.concat(Array.from({ length: TICKS / TRICKLE.length }, () => TRICKLE));
    await Promise.allSettled(
      tricklers.map((peer) => peer.until(() => peer.receivedBytes >= expectedEcho.length || peer.closed, 5000, 'the last line')),
    );
    await endAttack();

    const echoes = tricklers.map((peer) => ({ open: !peer.ended && !peer.closed, echo: peer.take() }));
    const tricklersOk = echoes.filter(({ open, echo }) => open && echo.equals(expectedEcho)).length;
    rec.linesLost = echoes.reduce((lost, { echo }) => lost + Math.max(0, countLines(expectedEcho) - countLines(echo)), 0);
    rec.equal('tricklers (1 byte/s is not idle): all still open, both lines echoed byte-exact', tricklersOk, TRICKLERS);

    await Promise.allSettled(creepers.map((peer) => peer.waitEndOrClose(1000)));
    const creepClosed = creepers.filter((peer) => peer.ended && peer.receivedBytes === 0).length;
    const creepBytes = creepers.map((peer) => CREEP_BURST + (sentCount.get(peer) ?? 0));
    rec.equal('creepers: closed once the slow line passed max-line-bytes, nothing echoed', creepClosed, CREEPERS);
    rec.figure(
      'creeper bytes sent when closed',
      `${Math.min(...creepBytes)}–${Math.max(...creepBytes)} (limit ${MAX_LINE_BYTES}, newline included)`,
    );

    await Promise.allSettled(silent.map((peer) => peer.waitEndOrClose(IDLE_LATE_BOUND_MS)));
    const idleAfter = silent.map((peer) => (peer.ended ? peer.endedAt - (lastByteAt.get(peer) ?? 0) : Number.POSITIVE_INFINITY));
    // An idle close is one echod starts: the unterminated byte is a fragment, dropped (README, Behaviour).
    const silentDropped = silent.filter((peer) => peer.ended && peer.take().length === 0).length;
    rec.check(
      `quiet ones: closed after ${IDLE_TIMEOUT_MS} ms idle, not before, within ${IDLE_LATE_BOUND_MS} ms`,
      idleAfter.every((ms) => ms >= IDLE_TIMEOUT_MS && ms <= IDLE_LATE_BOUND_MS),
      `${Math.round(Math.min(...idleAfter))}–${Math.round(Math.max(...idleAfter))} ms after their last byte`,
    );
    rec.equal('quiet ones: their unterminated byte not echoed at the idle close', silentDropped, SILENT);

    // Everyone says goodbye properly (a half-open client would hold its slot until --drain-timeout).
    for (const peer of peers) peer.end();
    await Promise.allSettled(peers.map((peer) => peer.waitClosed(10_000)));
    for (const peer of peers) peer.destroy();
    await echod.until(() => echod.book.closes.length >= TOTAL, 'every slowloris close in the log', 10_000);
    const reasons = (reason: string): number => echod.book.reason(reason);
    rec.figure(
      'close reasons (log)',
      `line_too_long ${reasons('line_too_long')}, idle_timeout ${reasons('idle_timeout')}, client_closed ${reasons('client_closed')}`,
    );
    rec.equal('log: line_too_long closes', reasons('line_too_long'), CREEPERS);
    rec.equal('log: idle_timeout closes', reasons('idle_timeout'), SILENT);
    rec.equal('log: client_closed (tricklers, at the end)', reasons('client_closed'), TRICKLERS);
  });
}
