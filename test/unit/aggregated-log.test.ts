// Flood logging: the first event of a kind is logged with its details, the rest summed up per
// window; with a listener, each listener has its own window and every line names it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AggregatedLog } from '../../src/server/aggregated-log.js';
import { RecordingLogger } from '../../testkit/recording-logger.js';

describe('AggregatedLog', () => {
  it('one line with details per kind, then one summary with the count', () => {
    const logger = new RecordingLogger();
    const log = new AggregatedLog<'a' | 'b'>(logger, 'refused');
    for (let i = 0; i < 5; i++) log.record('a', { remotePort: i });
    log.record('b', { remotePort: 9 });
    log.flush();
    assert.deepEqual(
      logger.records.map((record) => [record.msg, record.fields]),
      [
        ['refused', { remotePort: 0, reason: 'a' }],
        ['refused', { remotePort: 9, reason: 'b' }],
        ['refused (4 more in the last window)', { reason: 'a', count: 4, windowMs: 1000 }],
      ],
    );
  });

  it('per listener: each has its own window, and the first line and the summary name it', () => {
    const logger = new RecordingLogger();
    const log = new AggregatedLog<'max_connections'>(logger, 'connection rejected');
    for (let i = 0; i < 3; i++) log.record('max_connections', { remotePort: i }, 'tcp://127.0.0.1:1');
    for (let i = 0; i < 2; i++) log.record('max_connections', { remotePort: 10 + i }, 'tls://127.0.0.1:2');
    log.flush();
    assert.deepEqual(
      logger.records.map((record) => [record.msg, record.fields]),
      [
        ['connection rejected', { listener: 'tcp://127.0.0.1:1', remotePort: 0, reason: 'max_connections' }],
        ['connection rejected', { listener: 'tls://127.0.0.1:2', remotePort: 10, reason: 'max_connections' }],
        [
          'connection rejected (2 more in the last window)',
          { listener: 'tcp://127.0.0.1:1', reason: 'max_connections', count: 2, windowMs: 1000 },
        ],
        [
          'connection rejected (1 more in the last window)',
          { listener: 'tls://127.0.0.1:2', reason: 'max_connections', count: 1, windowMs: 1000 },
        ],
      ],
    );
  });
});
