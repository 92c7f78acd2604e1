/**
 * The ledger: the server's books. Open connections, totals (the closed connections' kept, the
 * open ones' added in on demand), close and refusal reasons, the UDP counters, and the log
 * lines and snapshots made from them: `connection opened` / `connection closed`, the aggregated
 * refusal lines, `server.stats`, `GET /connections`. It decides nothing (admission does).
 */
import { formatListener } from '../config/listen-url.js';
import type { ResolvedListener, ResolvedOptions } from '../config/options.js';
import type { Connection, HttpActivity } from '../connection/connection.js';
import { clockMs } from '../connection/deadlines.js';
import type { Peer } from '../connection/transport.js';
import {
  addUdpCounters,
  CLOSE_REASONS,
  type CloseReason,
  type ListenerStats,
  REJECT_REASONS,
  type RejectReason,
  type ServerStats,
  type UdpCounters,
  type UdpDropReason,
  zeroCounts,
  zeroUdpCounters,
} from '../core/stats.js';
import { AggregatedLog } from './aggregated-log.js';
import type { UdpDropLog } from './transport-select.js';

/** What the server reports about a connection once it has closed. */
export interface ConnectionSummary {
  id: number;
  remoteAddress: string;
  remotePort: number;
  /** The balancer, when a PROXY header named the client. */
  via: { address: string; port: number } | null;
  /** tcp://…, tls://…, unix://… */
  listener: string;
  reason: CloseReason;
  forced: boolean;
  bytesReceived: number;
  bytesSent: number;
  lines: number;
  /** Bytes of an unterminated last line dropped at a close echod started (only a client's FIN completes a line). */
  discardedTailBytes: number;
  durationMs: number;
  /** With `digest`: the digests of the bytes received and sent. */
  digest: { algorithm: string; received: string; sent: string } | null;
}

/** One open connection, as `GET /connections` shows it. */
export interface ConnectionSnapshot {
  id: number;
  listener: string;
  remote: { address: string; port: number };
  local: { address: string; port: number };
  via: { address: string; port: number } | null;
  proxySource: { address: string; port: number } | null;
  tls: Connection['tls'];
  state: Connection['state'];
  bytesIn: number;
  bytesOut: number;
  lines: number;
  pendingBytes: number;
  ageMs: number;
  /** Time since the last bytes either way, at the deadline sweep's resolution. */
  idleMs: number;
  /** http and https connections: HTTP/1.1, HTTP/2 or WebSocket, with its request and message counts; null otherwise. */
  http: HttpActivity | null;
}

/** The lifecycle's part of `server.stats`. */
export type LifecycleStats = Pick<ServerStats, 'state' | 'shutdown' | 'ready' | 'startedAt'>;

export class Ledger {
  readonly connections = new Set<Connection>();
  /** Each udp listener's counters, kept after it stops (its totals stay in /stats). */
  private readonly udpByListener = new Map<ResolvedListener, UdpCounters>();
  /** Each listener's URL with its bound port (for port 0), as logs and /connections show it. */
  private readonly labels = new Map<ResolvedListener, string>();
  private readonly rejectLog: AggregatedLog<RejectReason>;
  private readonly udpDropLog: AggregatedLog<UdpDropReason>;
  // Totals of the connections that have closed; the open ones are added in on demand.
  private closedBytesReceived = 0;
  private closedBytesSent = 0;
  private closedLines = 0;
  private total = 0;
  /** Most connections open at once, and each listener's served count (by URL): for the status page. */
  private peak = 0;
  private readonly servedByListener = new Map<string, number>();
  /** Each listener's bytes and lines from its closed connections (by URL): per-listener metrics. */
  private readonly closedByListener = new Map<string, ListenerTraffic>();
  private forced = 0;
  private internalErrors = 0;
  private readonly closedByReason = zeroCounts(CLOSE_REASONS);
  private readonly rejectedByReason = zeroCounts(REJECT_REASONS);

  constructor(private readonly options: Readonly<ResolvedOptions>) {
    this.rejectLog = new AggregatedLog(options.logger, 'connection rejected');
    this.udpDropLog = new AggregatedLog(options.logger, 'udp datagram dropped');
  }

  /** Names `config` by its URL with the bound port, from now on. */
  setLabel(config: ResolvedListener, url: string): void {
    this.labels.set(config, url);
  }

  /** `config`'s URL, with its bound port once listening. */
  label(config: ResolvedListener): string {
    return this.labels.get(config) ?? formatListener(config);
  }

  /** The counters `config`'s udp listener keeps (summed with the others' in `stats()`). */
  udpCounters(config: ResolvedListener): UdpCounters {
    let counters = this.udpByListener.get(config);
    if (counters === undefined) {
      counters = zeroUdpCounters();
      this.udpByListener.set(config, counters);
    }
    return counters;
  }

  /** Where `config`'s udp drops are logged (aggregated, as refusals are). */
  udpDrops(config: ResolvedListener): UdpDropLog {
    return { record: (reason, details) => this.udpDropLog.record(reason, details, this.label(config)) };
  }

  /** An admitted connection is being served: counted and logged. */
  opened(connection: Connection): void {
    this.connections.add(connection);
    this.total++;
    this.peak = Math.max(this.peak, this.connections.size);
    this.servedByListener.set(connection.listener, (this.servedByListener.get(connection.listener) ?? 0) + 1);
    const { logger } = this.options;
    // The line's object is built only for a level that writes it (at `warn` no connection line is).
    if (!logger.isLevelEnabled('info')) return;
    const line = logIdentity(connection);
    if (connection.proxy !== null) line.proxy = connection.proxy;
    logger.info(line, 'connection opened');
  }

  /** A connection closed: its totals kept, its close line logged; returns its summary. */
  closed(connection: Connection): ConnectionSummary {
    this.connections.delete(connection);
    const reason = connection.reason ?? 'client_closed';
    const summary: ConnectionSummary = {
      id: connection.id,
      remoteAddress: connection.remoteAddress,
      remotePort: connection.remotePort,
      via: connection.via,
      listener: connection.listener,
      reason,
      forced: connection.forced,
      bytesReceived: connection.bytesReceived,
      bytesSent: connection.bytesSent,
      lines: connection.lines,
      discardedTailBytes: connection.discardedTailBytes,
      durationMs: clockMs() - connection.openedAt,
      digest:
        connection.extras?.digestIn != null && connection.extras.digestOut != null
          ? {
              algorithm: connection.extras.digestIn.algorithm,
              received: connection.extras.digestIn.hex(),
              sent: connection.extras.digestOut.hex(),
            }
          : null,
    };
    this.closedBytesReceived += summary.bytesReceived;
    this.closedBytesSent += summary.bytesSent;
    this.closedLines += summary.lines;
    addTraffic(this.closedByListener, summary.listener, summary, 0);
    this.closedByReason[reason]++;
    if (summary.forced) this.forced++;
    const level = reason === 'error' ? 'warn' : 'info';
    const { logger } = this.options;
    if (logger.isLevelEnabled(level)) logger[level](closeLine(connection, summary), 'connection closed');
    return summary;
  }

  /** A client refused by the limits or the lifecycle, on the listener with URL `listener`: counted, and logged in aggregate. */
  rejected(reason: RejectReason, peer: Peer, listener: string): void {
    const { maxConnections, maxConnectionsPerIp } = this.options;
    const limit = reason === 'max_connections' ? maxConnections : reason === 'max_connections_per_ip' ? maxConnectionsPerIp : 0;
    this.rejectedByReason[reason]++;
    this.rejectLog.record(
      reason,
      {
        remote: peer.address,
        remotePort: peer.port,
        ...(peer.via !== undefined ? { via: peer.via.address } : {}),
        limit,
      },
      listener,
    );
  }

  /** A socket that failed before it could be served (PROXY header, TLS handshake): counted, logged in aggregate. */
  refused(reason: 'proxy_protocol_error' | 'tls_error', peer: Peer, detail: string, listener: string): void {
    this.rejectedByReason[reason]++;
    this.rejectLog.record(reason, { remote: peer.address, remotePort: peer.port, detail }, listener);
  }

  /** A bug met while handling a connection (it is being closed). */
  internalError(connection: Connection, err: unknown): void {
    this.internalErrors++;
    this.options.logger.error({ err, connId: connection.id }, 'internal error handling a connection; closing it');
  }

  /** Writes out the aggregated lines still pending (at close). */
  flush(): void {
    this.rejectLog.flush();
    this.udpDropLog.flush();
  }

  /** A consistent snapshot of the counters, with the lifecycle's fields and the bound listeners. */
  stats(lifecycle: LifecycleStats, bound: readonly { config: ResolvedListener }[]): ServerStats {
    let bytesReceived = this.closedBytesReceived;
    let bytesSent = this.closedBytesSent;
    let lines = this.closedLines;
    const byListener = new Map<string, ListenerTraffic>();
    for (const [url, closed] of this.closedByListener) byListener.set(url, { ...closed });
    for (const connection of this.connections) {
      bytesReceived += connection.bytesReceived;
      bytesSent += connection.bytesSent;
      lines += connection.lines;
      addTraffic(byListener, connection.listener, connection, 1);
    }
    return {
      serverId: this.options.serverId,
      ...lifecycle,
      connections: {
        active: this.connections.size,
        peak: this.peak,
        limit: this.options.maxConnections,
        total: this.total,
        closed: { ...this.closedByReason },
        forced: this.forced,
        rejected: { ...this.rejectedByReason },
      },
      bytesReceived,
      bytesSent,
      lines,
      internalErrors: this.internalErrors,
      listeners: this.listenerStats(bound, byListener),
      udp: this.udpTotals(),
    };
  }

  /** Every udp listener's counts, summed. */
  private udpTotals(): UdpCounters {
    const total = zeroUdpCounters();
    for (const counters of this.udpByListener.values()) addUdpCounters(total, counters);
    return total;
  }

  /** Each bound listener's settings and connection counts (URLs as connections carry them). */
  private listenerStats(bound: readonly { config: ResolvedListener }[], byListener: ReadonlyMap<string, ListenerTraffic>): ListenerStats[] {
    const tls = this.options.tls;
    return bound.map(({ config }) => {
      const url = this.label(config);
      const traffic = byListener.get(url);
      return {
        url,
        protocol: config.protocol,
        mode: config.mode,
        proxyProtocol: config.proxyProtocol,
        tls:
          config.protocol === 'tls' && tls !== null
            ? { minVersion: tls.minVersion, clientAuth: tls.clientAuth, selfSigned: tls.selfSigned }
            : null,
        active: traffic?.active ?? 0,
        total: this.servedByListener.get(url) ?? 0,
        bytesReceived: traffic?.bytesReceived ?? 0,
        bytesSent: traffic?.bytesSent ?? 0,
        lines: traffic?.lines ?? 0,
        udp: config.protocol === 'udp' ? copyOf(this.udpByListener.get(config)) : null,
      };
    });
  }

  /** Every open connection, for `GET /connections`: who, where, how much, how long. */
  snapshot(): ConnectionSnapshot[] {
    const now = clockMs();
    return [...this.connections].map((connection) => ({
      id: connection.id,
      listener: connection.listener,
      remote: { address: connection.remoteAddress, port: connection.remotePort },
      local: connection.local,
      via: connection.via,
      proxySource: connection.proxy?.source ?? null,
      tls: connection.tls,
      state: connection.state,
      bytesIn: connection.bytesReceived,
      bytesOut: connection.bytesSent,
      lines: connection.lines,
      pendingBytes: connection.pendingBytes,
      ageMs: now - connection.openedAt,
      idleMs: connection.idleMs(now),
      http: connection.httpActivity,
    }));
  }
}

/** A udp listener's counts as /stats shows them (a copy; zero before it is bound). */
function copyOf(counters: UdpCounters | undefined): UdpCounters {
  const copy = zeroUdpCounters();
  if (counters !== undefined) addUdpCounters(copy, counters);
  return copy;
}

/** One listener's open connections, and the bytes and lines of its connections. */
interface ListenerTraffic {
  active: number;
  bytesReceived: number;
  bytesSent: number;
  lines: number;
}

function addTraffic(
  into: Map<string, ListenerTraffic>,
  listener: string,
  from: { bytesReceived: number; bytesSent: number; lines: number },
  active: number,
): void {
  const traffic = into.get(listener);
  if (traffic === undefined)
    into.set(listener, { active, bytesReceived: from.bytesReceived, bytesSent: from.bytesSent, lines: from.lines });
  else {
    traffic.active += active;
    traffic.bytesReceived += from.bytesReceived;
    traffic.bytesSent += from.bytesSent;
    traffic.lines += from.lines;
  }
}

/** A connection's close line: its identity, then what its life came to, in that order. */
function closeLine(connection: Connection, summary: ConnectionSummary): Record<string, unknown> {
  const line = logIdentity(connection);
  if (connection.tls !== null) line.tls = connection.tls;
  if (summary.digest !== null) line.digest = summary.digest;
  line.reason = summary.reason;
  if (summary.forced) line.forced = true;
  if (connection.errorCode !== null) line.errorCode = connection.errorCode;
  line.bytesIn = summary.bytesReceived;
  line.bytesOut = summary.bytesSent;
  line.lines = summary.lines;
  if (summary.discardedTailBytes > 0) line.discardedTailBytes = summary.discardedTailBytes;
  line.durationMs = summary.durationMs;
  return line;
}

/**
 * The fields that name a connection in its open and close lines, in that order. Built field by
 * field, not with spreads of optional parts: this runs twice for every connection.
 */
function logIdentity(connection: Connection): Record<string, unknown> {
  const line: Record<string, unknown> = {
    connId: connection.id,
    remote: connection.remoteAddress,
    remotePort: connection.remotePort,
    listener: connection.listener,
  };
  if (connection.via !== null) line.via = connection.via;
  return line;
}
