// The pure part of `--workers` accounting: what the primary keeps of a worker that died
// (src/cli/cluster-protocol.ts). The end-to-end behaviour is in workers.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { foldMetrics, type MetricsJson, retire, type WorkerReport } from '../../src/cli/cluster-protocol.js';
import { CLOSE_REASONS, REJECT_REASONS, type ServerStats, zeroCounts } from '../../src/core/stats.js';

const TCP = 'tcp://127.0.0.1:7';
const UNIX = 'unix:///run/echod.sock';

/** A worker with `active` connections open of `total` served, split 2:1 over two listeners. */
function stats(active: number, total: number): ServerStats {
  const listener = (url: string, share: number) => ({
    url,
    protocol: url.split(':')[0] as string,
    mode: 'line',
    proxyProtocol: 'off',
    tls: null,
    active: Math.round(active * share),
    total: Math.round(total * share),
    bytesReceived: 0,
    bytesSent: 0,
    lines: 0,
    udp: null,
  });
  return {
    serverId: 's',
    state: 'listening',
    shutdown: null,
    ready: true,
    startedAt: null,
    connections: {
      active,
      peak: active,
      limit: 0,
      total,
      closed: { ...zeroCounts(CLOSE_REASONS), client_closed: total - active },
      forced: 0,
      rejected: zeroCounts(REJECT_REASONS),
    },
    bytesReceived: 10,
    bytesSent: 10,
    lines: 3,
    internalErrors: 0,
    listeners: [listener(TCP, 2 / 3), listener(UNIX, 1 / 3)],
    udp: {
      received: 0,
      echoed: 0,
      bytesReceived: 0,
      bytesSent: 0,
      dropped: { rate_limited: 0, reflection_port: 0, fault_drop: 0 },
      duplicated: 0,
    },
  };
}

/** The series as a worker reports them: per listener, the lines all on the tcp one. */
const metrics = (open: number, lines: number): MetricsJson =>
  [
    {
      name: 'echod_connections_active',
      help: '',
      type: 'gauge',
      aggregator: 'sum',
      values: [TCP, UNIX].map((listener, i) => ({
        value: i === 0 ? open - Math.round(open / 3) : Math.round(open / 3),
        labels: { server_id: 's', listener },
      })),
    },
    {
      name: 'echod_lines_total',
      help: '',
      type: 'counter',
      aggregator: 'sum',
      values: [TCP, UNIX].map((listener, i) => ({ value: i === 0 ? lines : 0, labels: { server_id: 's', listener } })),
    },
    {
      name: 'echod_connections_closed_total',
      help: '',
      type: 'counter',
      aggregator: 'sum',
      values: [TCP, UNIX].flatMap((listener) =>
        CLOSE_REASONS.map((reason) => ({
          value: reason === 'client_closed' && listener === TCP ? 1 : 0,
          labels: { server_id: 's', reason, listener },
        })),
      ),
    },
  ] as unknown as MetricsJson;

/** The sum of `name`'s series whose labels include `labels` (as `sum without (listener)` does). */
const valueOf = (all: MetricsJson, name: string, reason?: string, listener?: string): number | undefined => {
  const values = all
    .find((metric) => metric.name === name)
    ?.values.filter(
      (value) => (reason === undefined || value.labels.reason === reason) && (listener === undefined || value.labels.listener === listener),
    );
  return values === undefined || values.length === 0 ? undefined : values.reduce((sum, value) => sum + value.value, 0);
};

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

  it("each listener's worker_exit gets the connections open on that listener, not the total", () => {
    const three: WorkerReport = { stats: stats(3, 6), metrics: metrics(3, 3), opened: [], closed: [] };
    const { metrics: retired } = retire(three);
    assert.equal(valueOf(retired, 'echod_connections_closed_total', 'worker_exit', TCP), 2);
    assert.equal(valueOf(retired, 'echod_connections_closed_total', 'worker_exit', UNIX), 1);
    assert.equal(
      valueOf(retired, 'echod_connections_closed_total', 'worker_exit'),
      3,
      "summed without listener: the worker's open connections",
    );
  });

  it('foldMetrics sums series by name and labels', () => {
    const folded = foldMetrics(retire(report).metrics, retire(report).metrics);
    assert.equal(valueOf(folded, 'echod_lines_total'), 6);
    assert.equal(valueOf(folded, 'echod_connections_closed_total', 'worker_exit'), 4);
    assert.equal(valueOf(folded, 'echod_connections_closed_total', 'client_closed'), 2);
  });

  it("foldMetrics keeps the listener label: each listener's series sums apart", () => {
    const folded = foldMetrics(retire(report).metrics, retire(report).metrics);
    assert.equal(valueOf(folded, 'echod_lines_total', undefined, TCP), 6);
    assert.equal(valueOf(folded, 'echod_lines_total', undefined, UNIX), 0);
    assert.equal(folded.find((metric) => metric.name === 'echod_lines_total')?.values.length, 2, 'one series per listener');
  });
});
