/**
 * The messages between the `--workers` primary and its worker processes (over cluster IPC),
 * how the workers' stats add up, and what the primary keeps of a worker that died.
 *
 * Every figure the primary shows of a worker comes from a report that worker sent (a periodic
 * one, an answer to /stats or /metrics, or its last one at exit), and the primary keeps the
 * latest. So when a worker dies, its last report holds at least every count ever shown of it:
 * folded into the retired totals, the sums never go backwards.
 */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import { addUdpCounters, type ListenerStats, type ServerStats, zeroUdpCounters } from '../core/stats.js';

export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** A connection a worker opened, as the primary logs it if the worker dies with it open. */
export interface OpenedConnection {
  connId: number;
  remote: string;
  remotePort: number;
}

/**
 * A worker's counts at one moment: its stats and its metrics taken together (so /stats and
 * /metrics agree on a dead worker), and the connections it opened and closed since its
 * previous report (so the primary knows which were open).
 */
export interface WorkerReport {
  stats: ServerStats;
  metrics: MetricsJson;
  opened: OpenedConnection[];
  closed: number[];
}

export type PrimaryMessage = { type: 'echod:request'; requestId: number; what: 'report' | 'connections' } | { type: 'echod:shutdown' };

export type WorkerMessage =
  | { type: 'echod:listening'; address: string; port: number; family: string }
  /** requestId: the request it answers, or null for a report the worker sent of its own accord. */
  | { type: 'echod:report'; requestId: number | null; report: WorkerReport }
  | { type: 'echod:reply'; requestId: number; body: unknown };

export function isWorkerMessage(message: unknown): message is WorkerMessage {
  return (
    typeof message === 'object' &&
    message !== null &&
    typeof (message as { type?: unknown }).type === 'string' &&
    (message as { type: string }).type.startsWith('echod:')
  );
}

export function isPrimaryMessage(message: unknown): message is PrimaryMessage {
  return isWorkerMessage(message);
}

function addCounts<K extends string>(into: Record<K, number>, from: Record<K, number>): void {
  for (const key of Object.keys(from) as K[]) into[key] = (into[key] ?? 0) + from[key];
}

/** Every worker serves the same listeners: their counts add up URL by URL. */
function addListeners(into: ListenerStats[], from: readonly ListenerStats[]): void {
  for (const listener of from) {
    const same = into.find((each) => each.url === listener.url);
    if (same === undefined)
      into.push({ ...listener, udp: listener.udp === null ? null : { ...listener.udp, dropped: { ...listener.udp.dropped } } });
    else {
      if (same.udp !== null && listener.udp !== null) addUdpCounters(same.udp, listener.udp);
      same.active += listener.active;
      same.total += listener.total;
      same.bytesReceived += listener.bytesReceived;
      same.bytesSent += listener.bytesSent;
      same.lines += listener.lines;
    }
  }
}

export type PoolStats = ServerStats & { workers: number; workerRestarts: number };

/** The pool's stats: every count summed over the reports; state and readiness are the pool's own. */
export function sumStats(
  all: readonly ServerStats[],
  base: Pick<PoolStats, 'serverId' | 'state' | 'ready' | 'startedAt' | 'workers' | 'workerRestarts'>,
): PoolStats {
  const total: PoolStats = {
    ...base,
    // The workers drain on the same settings: the first one's deadlines stand for all.
    shutdown: all.find((stats) => stats.shutdown !== null)?.shutdown ?? null,
    // peak: the sum of the workers' peaks, an upper bound (they may have peaked at different times).
    connections: {
      active: 0,
      peak: 0,
      limit: 0,
      total: 0,
      closed: {} as ServerStats['connections']['closed'],
      forced: 0,
      rejected: {} as ServerStats['connections']['rejected'],
    },
    bytesReceived: 0,
    bytesSent: 0,
    lines: 0,
    internalErrors: 0,
    listeners: [],
    udp: zeroUdpCounters(),
  };
  for (const stats of all) {
    total.connections.active += stats.connections.active;
    total.connections.peak += stats.connections.peak;
    // Each worker enforces --max-connections on its own.
    total.connections.limit += stats.connections.limit;
    addListeners(total.listeners, stats.listeners);
    total.connections.total += stats.connections.total;
    total.connections.forced += stats.connections.forced;
    addCounts(total.connections.closed, stats.connections.closed);
    addCounts(total.connections.rejected, stats.connections.rejected);
    total.bytesReceived += stats.bytesReceived;
    total.bytesSent += stats.bytesSent;
    total.lines += stats.lines;
    total.internalErrors += stats.internalErrors;
    addUdpCounters(total.udp, stats.udp);
  }
  return total;
}

const CLOSED_METRIC = 'echod_connections_closed_total';

/**
 * A dead worker's last report as it stays in the sums: its connections still open then are
 * closed with reason `worker_exit`; only what only grows (counters, histograms) is kept, since
 * gauges (open connections, readiness, memory) describe a live process.
 */
export function retire(report: WorkerReport): { stats: ServerStats; metrics: MetricsJson } {
  const open = report.stats.connections.active;
  const { connections } = report.stats;
  const stats: ServerStats = {
    ...report.stats,
    // peak and limit describe live processes; listeners keep their totals, none open.
    connections: {
      ...connections,
      active: 0,
      peak: 0,
      limit: 0,
      closed: { ...connections.closed, worker_exit: (connections.closed.worker_exit ?? 0) + open },
    },
    listeners: report.stats.listeners.map((listener) => ({ ...listener, active: 0 })),
  };
  // The close series are per listener: each listener's worker_exit gets the connections open on it.
  const openOn = new Map(report.stats.listeners.map((listener) => [listener.url, listener.active]));
  const metrics = report.metrics
    .filter((metric) => String(metric.type) === 'counter' || String(metric.type) === 'histogram')
    .map((metric) => {
      if (metric.name !== CLOSED_METRIC) return metric;
      return {
        ...metric,
        values: metric.values.map((value) =>
          value.labels.reason === 'worker_exit'
            ? { ...value, value: value.value + (openOn.get(String(value.labels.listener)) ?? 0) }
            : value,
        ),
      };
    });
  return { stats, metrics };
}

/** Adds `add`'s series to `into`'s (counters and histograms: every value is a sum), series by series. */
export function foldMetrics(into: MetricsJson, add: MetricsJson): MetricsJson {
  const byName = new Map(into.map((metric) => [metric.name, { ...metric, values: [...metric.values] }]));
  for (const metric of add) {
    const existing = byName.get(metric.name);
    if (existing === undefined) {
      byName.set(metric.name, { ...metric, values: [...metric.values] });
      continue;
    }
    for (const value of metric.values) {
      const key = seriesKey(value);
      const index = existing.values.findIndex((each) => seriesKey(each) === key);
      if (index === -1) existing.values.push(value);
      else existing.values[index] = { ...value, value: (existing.values[index] as MetricValue<string>).value + value.value };
    }
  }
  return [...byName.values()];
}

/** One series of a metric: a histogram's `_bucket`/`_sum`/`_count` and its labels, in a stable order. */
function seriesKey(value: MetricValue<string>): string {
  const labels = Object.entries(value.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${(value as { metricName?: string }).metricName ?? ''} ${JSON.stringify(labels)}`;
}
