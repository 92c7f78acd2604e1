// `lines` means complete lines echoed back, everywhere: the close log line, /stats,
// /connections and echod_lines_total agree, and lines a close-after fault cut off or a delay
// still holds are not counted. Loopback, port 0.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { ConnectionSnapshot } from '../../src/server/server.js';
import type { FaultOptions } from '../../src/config/faults.js';
import { AdminFixture } from '../../testkit/admin-http.js';
import { HOST } from '../../testkit/clients.js';
import { RecordingLogger } from '../../testkit/recording-logger.js';

const TEST_TIMEOUT_MS = 10_000;
const DELAY_MS = 300;

describe('lines: complete lines echoed back', () => {
  let fixture: AdminFixture | undefined;
  afterEach(async () => {
    await fixture?.cleanup();
    fixture = undefined;
  });

  async function start(faults: FaultOptions, logger = new RecordingLogger()): Promise<AdminFixture> {
    fixture = await AdminFixture.start(
      { logger, listeners: [{ protocol: 'tcp', host: HOST, port: 0, faults }] },
      { processMetrics: false },
    );
    return fixture;
  }

  async function statsLines(admin: AdminFixture): Promise<number> {
    return (JSON.parse((await admin.get('/stats')).body) as { lines: number }).lines;
  }

  async function metricLines(admin: AdminFixture): Promise<number> {
    const match = /^echod_lines_total(?:\{[^}]*\})? (\d+)$/m.exec((await admin.get('/metrics')).body);
    assert.ok(match !== null, 'echod_lines_total is exported');
    return Number(match[1]);
  }

  async function connectionLines(admin: AdminFixture): Promise<number[]> {
    return (JSON.parse((await admin.get('/connections')).body) as { connections: ConnectionSnapshot[] }).connections.map((c) => c.lines);
  }

  it('close-after=lines=3 with five lines sent: 3 in the close line, /stats and the metric', { timeout: TEST_TIMEOUT_MS }, async () => {
    const logger = new RecordingLogger();
    const admin = await start({ closeAfter: { lines: 3 }, closeHow: 'fin' }, logger);
    const client = await admin.echo.connect();
    await client.write(Buffer.from('one\ntwo\nthree\nfour\nfive\n'));
    const [summary] = await admin.echo.events.closed(1);
    assert.equal(summary?.lines, 3);
    const closeLine = await logger.next('connection closed');
    assert.equal(closeLine.fields.lines, 3);
    assert.equal(await statsLines(admin), 3);
    assert.equal(await metricLines(admin), 3);
  });

  it('lines a delay still holds are counted once echoed, in /connections and /stats alike', { timeout: TEST_TIMEOUT_MS }, async () => {
    const admin = await start({ delayMs: [DELAY_MS, DELAY_MS] });
    const client = await admin.echo.connect();
    await client.write(Buffer.from('one\ntwo\n'));
    // Read well within the delay: received, not yet echoed.
    assert.deepEqual(await connectionLines(admin), [0]);
    assert.equal(await statsLines(admin), 0);
    assert.equal((await client.read(8)).toString(), 'one\ntwo\n');
    assert.deepEqual(await connectionLines(admin), [2]);
    assert.equal(await statsLines(admin), 2);
    assert.equal(await metricLines(admin), 2);
  });
});
