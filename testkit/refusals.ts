// What every refusal leaves behind, checked the same way by the tests of each kind of listener.
import assert from 'node:assert/strict';
import type { RejectReason } from '../src/core/stats.js';
import { type Fixture, WAIT_MS } from './clients.js';
import type { RecordingLogger } from './recording-logger.js';

/**
 * Asserts that `count` clients in all were refused for `reason` and none was served: the
 * server's events and counters say so, and the next refusal line is logged with that reason.
 * Resolves to that line's fields.
 */
export async function assertRefusals(
  fixture: Fixture,
  logger: RecordingLogger,
  reason: RejectReason,
  count: number,
): Promise<Record<string, unknown>> {
  const { events, server } = fixture;
  await events.until(() => events.rejects.length >= count, WAIT_MS, `${count} refusals`);
  assert.deepEqual(events.rejects, Array<RejectReason>(count).fill(reason));
  assert.equal(server.stats.connections.rejected[reason], count);
  assert.equal(server.stats.connections.total, 0, 'a refused client is never served');
  const line = await logger.next('connection rejected');
  assert.equal(line.fields.reason, reason);
  return line.fields;
}
