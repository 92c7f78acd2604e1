/**
 * A `--workers` worker's reports to its primary: its stats and metrics taken together, and the
 * connections it opened and closed since the previous report. Sent every REPORT_INTERVAL_MS
 * when anything changed, in answer to the primary's requests, and a last time after the drain.
 * The primary keeps the latest report of each worker; a worker killed outright (SIGKILL, the
 * OOM killer) cannot send one, so what it counted since its last report is lost (at most
 * REPORT_INTERVAL_MS of traffic; see "Worker exits" in README).
 */
import type { Registry } from 'prom-client';
import type { EchoServer } from '../server/server.js';
import type { ServerStats } from '../core/stats.js';
import type { OpenedConnection, WorkerMessage, WorkerReport } from './cluster-protocol.js';

/** How stale a killed worker's counts can be in the primary's sums. */
export const REPORT_INTERVAL_MS = 1000;

export class WorkerReporter {
  private opened: OpenedConnection[] = [];
  private closed: number[] = [];
  private lastSent = '';
  private timer: NodeJS.Timeout | null = null;
  private readonly server: EchoServer;
  private readonly registry: Registry;
  private readonly send: (message: WorkerMessage) => Promise<void>;

  constructor(server: EchoServer, registry: Registry, send: (message: WorkerMessage) => Promise<void>) {
    this.server = server;
    this.registry = registry;
    this.send = send;
    // Registered before the server listens: no connection can open unseen.
    server.on('connection', (connId, remote, remotePort) => this.opened.push({ connId, remote, remotePort }));
    server.on('connectionClose', (summary) => this.closed.push(summary.id));
  }

  /** Reports every REPORT_INTERVAL_MS while something changed; the timer never keeps the process alive. */
  start(): void {
    this.timer ??= setInterval(() => {
      if (this.opened.length > 0 || this.closed.length > 0 || fingerprint(this.server.stats) !== this.lastSent) void this.report(null);
    }, REPORT_INTERVAL_MS).unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Sends a report now (in answer to `requestId`, or of its own accord with null); resolves once it is written. */
  async report(requestId: number | null): Promise<void> {
    const metrics = await this.registry.getMetricsAsJSON();
    // From here to the send, nothing yields: stats, metrics and the deltas describe one moment.
    const report: WorkerReport = { stats: this.server.stats, metrics, opened: this.opened, closed: this.closed };
    this.opened = [];
    this.closed = [];
    this.lastSent = fingerprint(report.stats);
    await this.send({ type: 'echod:report', requestId, report });
  }
}

/** What changes when a worker has anything new to report (open connections are in the deltas). */
function fingerprint(stats: ServerStats): string {
  const { connections, udp } = stats;
  return `${connections.total} ${connections.active} ${stats.bytesReceived} ${stats.bytesSent} ${stats.lines} ${udp.received} ${udp.echoed} ${Object.values(connections.rejected).join(',')}`;
}
