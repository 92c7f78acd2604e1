// The pure part of `--workers` accounting: what the primary keeps of a worker that died
// (src/cli/cluster-protocol.ts). The end-to-end behaviour is in workers.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { foldMetrics, type MetricsJson, retire, type WorkerReport } from '../src/cli/cluster-protocol.js';
import { CLOSE_REASONS, REJECT_REASONS, type ServerStats, zeroCounts } from '../src/core/stats.js';

function stats(active: number, total: number): ServerStats {
  return {
    serverId: 's',
    state: 'listening',
    shutdown: null,
    ready: true,
    startedAt: null,
    connections: { active, peak: active, limit: 0, total, closed: { ...zeroCounts(CLOSE_REASONS), client_closed: total - active }, forced: 0, rejected: zeroCounts(REJECT_REASONS) },
    bytesReceived: 10,
    bytesSent: 10,
    lines: 3,
    internalErrors: 0,
    listeners: [],
    udp: { received: 0, echoed: 0, bytesReceived: 0, bytesSent: 0, dropped: { rate_limited: 0, reflection_port: 0, fault_drop: 0 }, duplicated: 0 },
  };
}

const metrics = (open: number, lines: number): MetricsJson =>
  [
    { name: 'echod_connections_active', help: '', type: 'gauge', aggregator: 'sum', values: [{ value: open, labels: { server_id: 's' } }] },
    { name: 'echod_lines_total', help: '', type: 'counter', aggregator: 'sum', values: [{ value: lines, labels: { server_id: 's' } }] },
    {
      name: 'echod_connections_closed_total',
      help: '',
      type: 'counter',
      aggregator: 'sum',
      values: CLOSE_REASONS.map((reason) => ({ value: reason === 'client_closed' ? 1 : 0, labels: { server_id: 's', reason } })),
    },
  ] as unknown as MetricsJson;

const valueOf = (all: MetricsJson, name: string, reason?: string): number | undefined =>
  all.find((metric) => metric.name === name)?.values.find((value) => reason === undefined || value.labels.reason === reason)?.value;

describe('retire: a dead worker in the sums', () => {
  const report: WorkerReport = { stats: stats(2, 3), metrics: metrics(2, 3), opened: [], closed: [] };

  it('its open connections become closed with reason worker_exit; the totals stay', () => {
    const { stats: retired } = retire(report);
    assert.equal(retired.connections.active, 0);
    assert.equal(retired.connections.closed.worker_exit, 2);
    assert.equal(retired.connections.total, 3);
    assert.equal(retired.lines, 3);
  });

  it('keeps counters (worker_exit added), drops gauges', () => {
    const { metrics: retired } = retire(report);
    assert.equal(valueOf(retired, 'echod_connections_active'), undefined);
    assert.equal(valueOf(retired, 'echod_lines_total'), 3);
    assert.equal(valueOf(retired, 'echod_connections_closed_total', 'worker_exit'), 2);
  });

  it('foldMetrics sums series by name and labels', () => {
    const folded = foldMetrics(retire(report).metrics, retire(report).metrics);
    assert.equal(valueOf(folded, 'echod_lines_total'), 6);
    assert.equal(valueOf(folded, 'echod_connections_closed_total', 'worker_exit'), 4);
    assert.equal(valueOf(folded, 'echod_connections_closed_total', 'client_closed'), 2);
  });
});
