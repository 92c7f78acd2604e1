/**
 * What the status page shows, assembled from one stats snapshot: a pure function of its inputs
 * (stats, the process's own facts, the rate history, the time), so tests build it directly.
 */
import type { CloseReason, ListenerStats, RejectReason, ServerState, ServerStats } from '../core/stats.js';
import type { HistoryCounters, HistorySnapshot } from './history.js';

/** One worker process of a `--workers` pool. */
export interface WorkerStatus {
  index: number;
  /** Null while the slot waits to restart a worker that died. */
  pid: number | null;
  listening: boolean;
  /** Open connections in the worker's last stats answer. */
  connections: number;
  /** Times the slot's worker died and was restarted. */
  restarts: number;
}

/** Facts about the process answering, not in ServerStats. */
export interface StatusAbout {
  version: string;
  /** e.g. `node v20.19.0`, `bun 1.4.4` */
  runtime: string;
  pid: number;
}

export interface StatusJson {
  generatedAt: string;
  server: {
    id: string;
    version: string;
    runtime: string;
    pid: number;
    startedAt: string | null;
    uptimeSeconds: number;
    state: ServerState;
    ready: boolean;
    /** While stopping or draining: what the countdown counts to, and the seconds left. */
    shutdown: { next: 'stop_accepting' | 'force_close'; at: string; secondsLeft: number } | null;
  };
  connections: { active: number; peak: number; limit: number; total: number; forced: number };
  listeners: ListenerStats[];
  closed: Record<CloseReason, number>;
  rejected: Record<RejectReason, number>;
  tlsHandshakeFailures: number;
  traffic: { bytesIn: number; bytesOut: number; lines: number };
  internalErrors: number;
  udp: ServerStats['udp'];
  /** Null when one process serves (no --workers). */
  workers: WorkerStatus[] | null;
  history: HistorySnapshot;
}

/** The process's runtime, as the status page names it. */
export function runtimeName(): string {
  const bun = process.versions.bun;
  return bun !== undefined ? `bun ${bun}` : `node ${process.version}`;
}

/** The counters the history charts, from one stats snapshot. */
export function historyCounters(stats: ServerStats): HistoryCounters {
  return { connections: stats.connections.total, lines: stats.lines, bytesIn: stats.bytesReceived, bytesOut: stats.bytesSent };
}

export interface StatusInput {
  stats: ServerStats;
  about: StatusAbout;
  workers: WorkerStatus[] | null;
  history: HistorySnapshot;
  /** Milliseconds since the epoch. */
  now: number;
}

export function buildStatus({ stats, about, workers, history, now }: StatusInput): StatusJson {
  const started = stats.startedAt === null ? null : Date.parse(stats.startedAt);
  return {
    generatedAt: new Date(now).toISOString(),
    server: {
      id: stats.serverId,
      version: about.version,
      runtime: about.runtime,
      pid: about.pid,
      startedAt: stats.startedAt,
      uptimeSeconds: started === null ? 0 : Math.max(0, Math.floor((now - started) / 1000)),
      state: stats.state,
      ready: stats.ready,
      shutdown: countdown(stats, now),
    },
    connections: {
      active: stats.connections.active,
      peak: stats.connections.peak,
      limit: stats.connections.limit,
      total: stats.connections.total,
      forced: stats.connections.forced,
    },
    listeners: stats.listeners,
    closed: stats.connections.closed,
    rejected: stats.connections.rejected,
    tlsHandshakeFailures: stats.connections.rejected.tls_error,
    traffic: { bytesIn: stats.bytesReceived, bytesOut: stats.bytesSent, lines: stats.lines },
    internalErrors: stats.internalErrors,
    udp: stats.udp,
    workers,
    history,
  };
}

/** Stopping counts down to the listeners closing; draining to open connections being destroyed. */
function countdown(stats: ServerStats, now: number): StatusJson['server']['shutdown'] {
  const times = stats.shutdown;
  if (times === null) return null;
  const next =
    stats.state === 'stopping'
      ? { next: 'stop_accepting' as const, at: times.acceptingUntil }
      : stats.state === 'draining' && times.forcedAt !== null
        ? { next: 'force_close' as const, at: times.forcedAt }
        : null;
  if (next === null) return null;
  return { ...next, secondsLeft: Math.max(0, Math.ceil((Date.parse(next.at) - now) / 1000)) };
}
