/**
 * What the server counts, and the snapshot it hands out (`server.stats`, `/stats`).
 * Counting on the byte path is per chunk, never per line: bytes come from the socket's own
 * counters and lines from the framer's per-chunk count (taken as the echo is written).
 */

/** Why a connection ended. Stable strings: logs, metrics labels and tests use them. */
export const CLOSE_REASONS = [
  'client_closed',
  'reset',
  'line_too_long',
  'idle_timeout',
  'write_stalled',
  'shutdown',
  'fault_close_after',
  'error',
  /** With `--workers`: open in a worker process that died; counted by the primary (README, Worker exits). */
  'worker_exit',
] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

/**
 * Why a connection was refused before it was served: a limit, or a PROXY header or TLS
 * handshake that failed.
 */
export const REJECT_REASONS = [
  'max_connections',
  'max_connections_per_ip',
  'proxy_protocol_error',
  'tls_error',
  'fault_refused',
  /** Handed over by a listener after the server stopped listening (none should be: counted to show it). */
  'not_listening',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/**
 * The server's lifecycle. `idle` → `listening` → `stopping` (readiness off, still serving and
 * accepting for `shutdownDelayMs`) → `draining` (no longer accepting; open connections finish)
 * → `closed`. `close()` before `listen()` goes straight from `idle` to `closed`.
 */
export type ServerState = 'idle' | 'listening' | 'stopping' | 'draining' | 'closed';

/** One listener as the status page shows it: where, how, and the connections it served. */
export interface ListenerStats {
  /** The listen URL with its bound port. */
  url: string;
  protocol: string;
  mode: string;
  proxyProtocol: string;
  /** The TLS settings on tls listeners, else null. */
  tls: { minVersion: string; clientAuth: string; selfSigned: boolean } | null;
  /** Open connections (0 on udp). */
  active: number;
  /** Connections served since start (0 on udp). */
  total: number;
  /** Bytes and complete lines echoed on its connections, closed and open (0 on udp: see `udp`). */
  bytesReceived: number;
  bytesSent: number;
  lines: number;
  /** A udp listener's own datagram counts (their sum is `ServerStats.udp`), else null. */
  udp: UdpCounters | null;
}

/** Set once a shutdown began: the deadlines the status page counts down to. */
export interface ShutdownTimes {
  /** ISO time the listeners stop accepting (end of `stopping`). */
  acceptingUntil: string;
  /** ISO time connections still open are destroyed (set on `draining`), or null before. */
  forcedAt: string | null;
}

export interface ServerStats {
  serverId: string;
  state: ServerState;
  /** Null until close() began. */
  shutdown: ShutdownTimes | null;
  /** True while a load balancer should send new connections here (`/readyz`). */
  ready: boolean;
  /** ISO time `listen()` succeeded, or null before that. */
  startedAt: string | null;
  connections: {
    active: number;
    /** Most connections open at once since start. */
    peak: number;
    /** `maxConnections` (0: no limit). */
    limit: number;
    /** Accepted and served (rejected ones not included). */
    total: number;
    closed: Record<CloseReason, number>;
    /** Of the closed ones, how many had to be destroyed because they did not finish in time. */
    forced: number;
    rejected: Record<RejectReason, number>;
  };
  bytesReceived: number;
  bytesSent: number;
  /** Complete (newline-terminated) lines echoed back (see `Connection.lines`); 0 in raw mode. */
  lines: number;
  /** Unexpected exceptions caught while handling a connection (bugs; should stay 0). */
  internalErrors: number;
  /** Every listener, in the order configured. */
  listeners: ListenerStats[];
  /** UDP listeners: datagrams in, answered, and dropped by reason. */
  udp: UdpCounters;
}

/** Why a datagram was not answered. Stable strings: the `reason` label of echod_udp_datagrams_dropped_total. */
export const UDP_DROP_REASONS = ['rate_limited', 'reflection_port', 'fault_drop'] as const;
export type UdpDropReason = (typeof UDP_DROP_REASONS)[number];

/** What a UDP listener counts (`/stats` `udp`: summed over them). */
export interface UdpCounters {
  received: number;
  echoed: number;
  bytesReceived: number;
  bytesSent: number;
  dropped: Record<UdpDropReason, number>;
  /** Answers sent twice by the duplicate fault. */
  duplicated: number;
}

export function zeroUdpCounters(): UdpCounters {
  return { received: 0, echoed: 0, bytesReceived: 0, bytesSent: 0, dropped: zeroCounts(UDP_DROP_REASONS), duplicated: 0 };
}

/** Adds `from`'s counts to `into`'s. */
export function addUdpCounters(into: UdpCounters, from: UdpCounters): void {
  into.received += from.received;
  into.echoed += from.echoed;
  into.bytesReceived += from.bytesReceived;
  into.bytesSent += from.bytesSent;
  into.duplicated += from.duplicated;
  for (const reason of UDP_DROP_REASONS) into.dropped[reason] += from.dropped[reason];
}

export function zeroCounts<K extends string>(keys: readonly K[]): Record<K, number> {
  const counts = {} as Record<K, number>;
  for (const key of keys) counts[key] = 0;
  return counts;
}
