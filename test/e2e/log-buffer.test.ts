// The command's log buffer is bounded: when stdout stops taking lines (a stuck pipe, a paused
// reader), echod keeps echoing, drops log lines beyond 16 MiB and counts them in
// echod_log_lines_dropped_total; once stdout reads again, lines flow again.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { LOG_BUFFER_MAX_BYTES } from '../../src/cli/logger.js';
import { Client, WAIT_MS } from '../../testkit/clients.js';
import { adminGet, type EchodProcess, echoes, metric, startEchod } from '../../testkit/echod-process.js';
import { parsePrometheus } from '../../testkit/prometheus.js';

const TEST_TIMEOUT_MS = 60_000;
/** At trace level every echoed line is a log line of ~150 bytes: 2-byte lines multiply output 75 times. */
const LINES_PER_WRITE = 50_000;
const LOG_BYTES_PER_LINE = 100; // a lower bound

async function dropped(adminPort: number): Promise<number> {
  return metric(parsePrometheus(await adminGet(adminPort, '/metrics')), 'echod_log_lines_dropped_total');
}

describe('log buffer bound', { timeout: TEST_TIMEOUT_MS }, () => {
  const started: EchodProcess[] = [];
  afterEach(async () => {
    for (const echod of started.splice(0)) await echod.stop();
  });

  it('with stdout unread, echoing goes on and log lines past the bound are dropped and counted', async () => {
    const { echod, port, adminPort } = await startEchod('node', ['--log-level', 'trace', '--admin-port', '0'], (e) => started.push(e));
    assert.ok(adminPort !== undefined);
    assert.equal(await dropped(adminPort), 0, 'nothing dropped while stdout reads');

    echod.child.stdout.pause();
    const client = await Client.connect(port);
    // Short lines, each one a trace line of its own: twice the bound's worth of log in all.
    const batch = 'a\n'.repeat(LINES_PER_WRITE);
    const writes = Math.ceil((2 * LOG_BUFFER_MAX_BYTES) / (LOG_BYTES_PER_LINE * LINES_PER_WRITE));
    for (let i = 0; i < writes; i++) await echoes(client, batch, WAIT_MS);
    const count = await dropped(adminPort);
    assert.ok(count > 0, `log lines were dropped (${count}), the echo never waited for stdout`);

    // stdout reads again: later lines arrive, and the drops stop growing.
    echod.child.stdout.resume();
    await echoes(client, 'after\n');
    await echod.log(
      (entry) => entry.msg === 'message received' && entry.bytes === 6,
      'the trace line of a message sent after stdout resumed',
      WAIT_MS * 2,
    );
    assert.equal(await dropped(adminPort), count, 'no more drops once stdout reads');
    client.socket.destroy();
  });
});
