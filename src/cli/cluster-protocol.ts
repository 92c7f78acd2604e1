/**
 * The messages between the `--workers` primary and its worker processes (over cluster IPC),
 * and how the workers' stats add up.
 */
import type { ListenerStats, ServerStats } from '../core/stats.js';

export type PrimaryMessage = { type: 'echod:request'; requestId: number; what: 'stats' | 'connections' } | { type: 'echod:shutdown' };

export type WorkerMessage =
  | { type: 'echod:listening'; address: string; port: number; family: string }
  | { type: 'echod:reply'; requestId: number; body: unknown };

export function isWorkerMessage(message: unknown): message is WorkerMessage {
  return typeof message === 'object' && message !== null && typeof (message as { type?: unknown }).type === 'string' && (message as { type: string }).type.startsWith('echod:');
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
    if (same === undefined) into.push({ ...listener });
    else {
      same.active += listener.active;
      same.total += listener.total;
    }
  }
}

/** The pool's stats: every count summed over the workers; state and readiness are the pool's own. */
export function sumStats(all: readonly ServerStats[], base: Pick<ServerStats, 'serverId' | 'state' | 'ready' | 'startedAt'>): ServerStats & { workers: number } {
  const total: ServerStats & { workers: number } = {
    ...base,
    // The workers drain on the same settings: the first one's deadlines stand for all.
    shutdown: all.find((stats) => stats.shutdown !== null)?.shutdown ?? null,
    workers: all.length,
    // peak: the sum of the workers' peaks, an upper bound (they may have peaked at different times).
    connections: { active: 0, peak: 0, limit: 0, total: 0, closed: {} as ServerStats['connections']['closed'], forced: 0, rejected: {} as ServerStats['connections']['rejected'] },
    bytesReceived: 0,
    bytesSent: 0,
    lines: 0,
    internalErrors: 0,
    listeners: [],
    udp: { received: 0, echoed: 0, bytesReceived: 0, bytesSent: 0, dropped: { rate_limited: 0, reflection_port: 0, fault_drop: 0 }, duplicated: 0 },
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
    total.udp.received += stats.udp.received;
    total.udp.echoed += stats.udp.echoed;
    total.udp.bytesReceived += stats.udp.bytesReceived;
    total.udp.bytesSent += stats.udp.bytesSent;
    addCounts(total.udp.dropped, stats.udp.dropped);
    total.udp.duplicated += stats.udp.duplicated;
  }
  return total;
}
