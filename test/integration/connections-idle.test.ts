// GET /connections: a connection's idle time is never more than its age. Activity is stamped
// from the deadline sweep's coarse clock, which runs up to one sweep period behind the exact
// clock ages are measured on; a client accepted late in a period must still show idleMs ≤ ageMs
// after the next sweep moves the clock.
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, it } from 'node:test';
import type { ConnectionSnapshot } from '../../src/server/server.js';
import { AdminFixture } from '../../testkit/admin-http.js';
import { HOST } from '../../testkit/clients.js';

/** Sweep period: a tenth of the idle timeout, at most 1 s; this timeout gives the full 1 s. */
const IDLE_TIMEOUT_MS = 60_000;
const SWEEP_MS = 1000;
/** Connect this far into the first sweep period, so the coarse clock is this stale at accept. */
const LATE_IN_PERIOD_MS = 600;
const SAMPLE_EVERY_MS = 50;

describe('GET /connections idleMs', () => {
  let fixture: AdminFixture | undefined;
  afterEach(async () => {
    await fixture?.cleanup();
    fixture = undefined;
  });

  it('never exceeds ageMs, across the sweep that follows a late accept', { timeout: 10_000 }, async () => {
    fixture = await AdminFixture.start({ listeners: [{ protocol: 'tcp', host: HOST, port: 0 }], idleTimeoutMs: IDLE_TIMEOUT_MS });
    // Nothing announces "late in the sweep period": the wait is the condition under test.
    await delay(LATE_IN_PERIOD_MS);
    await fixture.echo.connect();
    const until = performance.now() + SWEEP_MS + SAMPLE_EVERY_MS * 4;
    let samples = 0;
    while (performance.now() < until) {
      const response = await fixture.get('/connections');
      const [connection] = (JSON.parse(response.body) as { connections: ConnectionSnapshot[] }).connections;
      assert.ok(connection !== undefined, 'the client is listed');
      assert.ok(connection.idleMs <= connection.ageMs, `idleMs ${connection.idleMs} ≤ ageMs ${connection.ageMs}`);
      assert.ok(connection.idleMs >= 0);
      samples++;
      await delay(SAMPLE_EVERY_MS);
    }
    assert.ok(samples > 5, `sampled across the sweep (${samples} samples)`);
  });
});
