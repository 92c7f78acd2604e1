/**
 * Prometheus metrics for an echo server (prom-client). Nothing here runs on the byte path:
 * per-connection events are counted when they happen (open, close, reject), and the byte and
 * line totals are read from the server's own counters when Prometheus scrapes.
 *
 * The connection, refusal, duration, byte, line, TLS and udp series carry a `listener` label
 * (its URL as echod logs it, `tcp://127.0.0.1:7`), as haproxy labels per frontend: listeners are
 * few, so the series stay few, and a sum without the label is the server's total. Every bound
 * listener shows its series from the start (at 0), so dashboards and alerts need no absent().
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EchoServer } from '../server/server.js';
import { CLOSE_REASONS, type ListenerStats, REJECT_REASONS, type ServerStats, UDP_DROP_REASONS, type UdpCounters } from '../core/stats.js';
import { ADMIN_CLOSE_REASONS, type AdminCloseReason, type AdminLimits } from './admin-limits.js';
import { registerHttpMetrics } from './http-metrics.js';
import { TLS_PROTOCOLS } from '../config/listen-url.js';

export interface MetricsOptions {
  /** Registry to register into. @default a new Registry */
  registry?: Registry;
  /** Also collect prom-client's default process metrics (memory, CPU, event-loop lag, fds). @default true */
  processMetrics?: boolean;
  /** Labels added to every series (e.g. `{ server_id: 'echod-0' }`). @default {} */
  labels?: Record<string, string>;
  /** The version reported by `echod_build_info`. @default 'unknown' */
  version?: string;
  /** Log lines dropped by the process's logger so far (the CLI's bounded log buffer), if any. */
  logLinesDropped?: () => number;
}

/** Connection lifetimes span milliseconds (probes) to hours (held streams). */
const DURATION_BUCKETS_SECONDS = [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14_400];
/** TLS handshakes on loopback take about a millisecond; across a WAN, tens to hundreds; 10 s is the timeout. */
const HANDSHAKE_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];
/** The versions echod negotiates (--tls-min-version): each shows from the start, at 0. */
const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;

/**
 * Registers echod's series for `server` and returns the registry. See docs/metrics.md for
 * every series and what it means.
 */
export function createMetrics(server: EchoServer, options: MetricsOptions = {}): Registry {
  const registry = options.registry ?? new Registry();
  if (options.labels !== undefined) registry.setDefaultLabels(options.labels);
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  // One snapshot per scrape: every series below reads the same one (the snapshot walks every
  // open connection), and it is dropped once the scrape's synchronous work is done.
  let snapshot: ServerStats | null = null;
  const stats = (): ServerStats => {
    if (snapshot === null) {
      snapshot = server.stats;
      setImmediate(() => {
        snapshot = null;
      });
    }
    return snapshot;
  };
  /** The listeners connections are counted on (udp ones have their own series). */
  const isStream = (listener: ListenerStats): boolean => listener.protocol !== 'udp';
  const streamListeners = (): ListenerStats[] => stats().listeners.filter(isStream);
  /** The listeners that complete TLS handshakes: tls, and https (whose wss upgrades ride on them). */
  const tlsListeners = (): ListenerStats[] =>
    stats().listeners.filter((listener) => TLS_PROTOCOLS.some((protocol) => protocol === listener.protocol));

  const logLinesDropped = options.logLinesDropped;
  if (logLinesDropped !== undefined) {
    new Counter({
      name: 'echod_log_lines_dropped_total',
      help: 'Log lines dropped because stdout did not take them and 16 MiB of lines were already waiting.',
      registers,
      collect() {
        this.reset();
        this.inc(logLinesDropped());
      },
    });
  }

  // With --workers, the primary sums the workers' series; `aggregator` says where a sum is wrong.
  new Gauge({
    name: 'echod_build_info',
    help: 'Always 1; labels say which echod this is and how it echoes.',
    labelNames: ['version', 'mode'],
    aggregator: 'first',
    registers,
    collect() {
      this.set({ version: options.version ?? 'unknown', mode: server.options.mode }, 1);
    },
  });
  new Gauge({
    name: 'echod_ready',
    help: '1 while the server accepts new connections (as /readyz), 0 from the moment it starts draining.',
    aggregator: 'min',
    registers,
    collect() {
      this.set(server.ready ? 1 : 0);
    },
  });
  new Gauge({
    name: 'echod_connections_active',
    help: 'Connections open now, by listener.',
    labelNames: ['listener'],
    registers,
    collect() {
      this.reset();
      for (const listener of streamListeners()) this.set({ listener: listener.url }, listener.active);
    },
  });
  new Gauge({
    name: 'echod_connections_limit',
    help: 'The --max-connections limit (0 = none).',
    registers,
    collect() {
      this.set(server.options.maxConnections);
    },
  });

  perListener(
    'echod_connections_total',
    'Connections accepted and served, by listener (rejected ones not included).',
    (listener) => listener.total,
  );
  // Counted as they happen; each bound listener's series show at 0 until then (collect()).
  const closed = new Counter({
    name: 'echod_connections_closed_total',
    help: `Connections closed, by reason (${CLOSE_REASONS.join(', ')}) and listener.`,
    labelNames: ['reason', 'listener'],
    registers,
    collect() {
      for (const listener of streamListeners()) for (const reason of CLOSE_REASONS) this.inc({ reason, listener: listener.url }, 0);
    },
  });
  const forced = new Counter({
    name: 'echod_connections_forced_total',
    help: 'Closing connections destroyed because they did not finish within --drain-timeout, by listener.',
    labelNames: ['listener'],
    registers,
    collect() {
      for (const listener of streamListeners()) this.inc({ listener: listener.url }, 0);
    },
  });
  const rejected = new Counter({
    name: 'echod_connections_rejected_total',
    help: `Connections refused before being served, by reason (${REJECT_REASONS.join(', ')}) and listener.`,
    labelNames: ['reason', 'listener'],
    registers,
    collect() {
      for (const listener of streamListeners()) for (const reason of REJECT_REASONS) this.inc({ reason, listener: listener.url }, 0);
    },
  });
  const duration = zeroedHistogram({
    name: 'echod_connection_duration_seconds',
    help: 'How long connections stayed open, observed when they close, by listener.',
    buckets: DURATION_BUCKETS_SECONDS,
    listeners: streamListeners,
  });
  const handshakes = new Counter({
    name: 'echod_tls_handshakes_total',
    help: `TLS handshakes completed on tls and https listeners, by protocol version (${TLS_VERSIONS.join(', ')}) and listener.`,
    labelNames: ['version', 'listener'],
    registers,
    collect() {
      for (const listener of tlsListeners()) for (const version of TLS_VERSIONS) this.inc({ version, listener: listener.url }, 0);
    },
  });
  const handshakeDuration = zeroedHistogram({
    name: 'echod_tls_handshake_duration_seconds',
    help: 'How long completed TLS handshakes on tls and https listeners took, by listener.',
    buckets: HANDSHAKE_BUCKETS_SECONDS,
    listeners: tlsListeners,
  });

  perListener('echod_bytes_received_total', 'Bytes received from clients, by listener.', (listener) => listener.bytesReceived);
  perListener('echod_bytes_sent_total', 'Bytes echoed back to clients, by listener.', (listener) => listener.bytesSent);
  perListener('echod_lines_total', 'Complete lines echoed back (line mode), by listener.', (listener) => listener.lines);
  totalOf(
    'echod_internal_errors_total',
    'Unexpected exceptions caught while handling a connection (a bug: alert on any).',
    () => stats().internalErrors,
  );

  perUdpListener('echod_udp_datagrams_received_total', 'UDP datagrams received, by listener.', (udp) => udp.received);
  perUdpListener(
    'echod_udp_datagrams_echoed_total',
    'UDP datagrams answered, by listener (a duplicate fault counts twice).',
    (udp) => udp.echoed,
  );
  perUdpListener('echod_udp_bytes_received_total', 'UDP payload bytes received, by listener.', (udp) => udp.bytesReceived);
  perUdpListener('echod_udp_bytes_sent_total', 'UDP payload bytes sent back, by listener.', (udp) => udp.bytesSent);
  new Counter({
    name: 'echod_udp_datagrams_dropped_total',
    help: `UDP datagrams not answered, by reason (${UDP_DROP_REASONS.join(', ')}) and listener.`,
    labelNames: ['reason', 'listener'],
    registers,
    collect() {
      this.reset();
      for (const listener of stats().listeners) {
        if (listener.udp === null) continue;
        for (const reason of UDP_DROP_REASONS) this.inc({ reason, listener: listener.url }, listener.udp.dropped[reason]);
      }
    },
  });

  // The http and https listeners' series (echod_http_*, echod_websocket_*), from server.http's events.
  registerHttpMetrics(registry, server.http);
  server.on('connection', (_id, _address, _port, tls, listener) => {
    if (tls?.handshakeMs === undefined) return;
    handshakes.inc({ version: tls.version ?? 'unknown', listener });
    handshakeDuration.observe(listener, tls.handshakeMs / 1000);
  });
  server.on('reject', (reason, _address, listener) => rejected.inc({ reason, listener }));
  server.on('connectionClose', (summary) => {
    const { listener } = summary;
    closed.inc({ reason: summary.reason, listener });
    if (summary.forced) forced.inc({ listener });
    duration.observe(listener, summary.durationMs / 1000);
  });
  return registry;

  /**
   * A histogram labelled by listener, observed as events happen, each of `listeners()` shown
   * with zero observations until its first. prom-client's zero() resets a series, so it is
   * given only to listeners not yet observed.
   */
  function zeroedHistogram(spec: { name: string; help: string; buckets: number[]; listeners: () => ListenerStats[] }): {
    observe(listener: string, seconds: number): void;
  } {
    const shown = new Set<string>();
    const histogram = new Histogram({
      name: spec.name,
      help: spec.help,
      buckets: spec.buckets,
      labelNames: ['listener'],
      registers,
      collect() {
        for (const { url } of spec.listeners()) {
          if (shown.has(url)) continue;
          shown.add(url);
          this.zero({ listener: url });
        }
      },
    });
    return {
      observe(listener, seconds) {
        shown.add(listener);
        histogram.observe({ listener }, seconds);
      },
    };
  }

  /** A counter per stream listener, read from the server at scrape time (it only ever grows). */
  function perListener(name: string, help: string, read: (listener: ListenerStats) => number): void {
    byListener(name, help, (listener) => (isStream(listener) ? read(listener) : null));
  }

  /** A counter per udp listener, read from its counts at scrape time. */
  function perUdpListener(name: string, help: string, read: (udp: UdpCounters) => number): void {
    byListener(name, help, (listener) => (listener.udp !== null ? read(listener.udp) : null));
  }

  /** A counter labelled by listener, read at scrape time; no series for a listener `read` gives null. */
  function byListener(name: string, help: string, read: (listener: ListenerStats) => number | null): void {
    new Counter({
      name,
      help,
      labelNames: ['listener'],
      registers,
      collect() {
        this.reset();
        for (const listener of stats().listeners) {
          const value = read(listener);
          if (value !== null) this.inc({ listener: listener.url }, value);
        }
      },
    });
  }

  /** A counter whose value is read from the server at scrape time (it only ever grows). */
  function totalOf(name: string, help: string, read: () => number): void {
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  }
}

/** What the admin endpoint counts about itself (kept by AdminServer, read at scrape time). */
export interface AdminCounters {
  active(): number;
  limits: AdminLimits;
  closed: Readonly<Record<AdminCloseReason, number>>;
  /** Responses sent, by status code. */
  requests: Map<number, number>;
}

/**
 * The admin endpoint's own series (echod_admin_*): its connections against its cap, why they
 * closed (each bound has its reason), and its answers. Skipped if `registry` has them already.
 */
export function registerAdminMetrics(registry: Registry, admin: AdminCounters): void {
  if (registry.getSingleMetric('echod_admin_connections_active') !== undefined) return;
  const registers = [registry];
  new Gauge({
    name: 'echod_admin_connections_active',
    help: 'Connections open on the admin endpoint now.',
    registers,
    collect() {
      this.set(admin.active());
    },
  });
  new Gauge({
    name: 'echod_admin_connections_limit',
    help: 'The --admin-max-connections cap.',
    aggregator: 'first',
    registers,
    collect() {
      this.set(admin.limits.maxConnections);
    },
  });
  new Counter({
    name: 'echod_admin_connections_closed_total',
    help: `Admin connections closed or refused, by reason (${ADMIN_CLOSE_REASONS.join(', ')}).`,
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const reason of ADMIN_CLOSE_REASONS) this.inc({ reason }, admin.closed[reason]);
    },
  });
  new Counter({
    name: 'echod_admin_requests_total',
    help: 'Admin responses sent, by status code.',
    labelNames: ['code'],
    registers,
    collect() {
      this.reset();
      for (const [code, count] of admin.requests) this.inc({ code: String(code) }, count);
    },
  });
}

/**
 * The `--workers` primary's own series, added to the sums of its workers' (see worker-pool.ts).
 * `restarts` reads how many workers died and were restarted so far.
 */
export function createPoolMetrics(restarts: () => number, labels: Record<string, string> = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  new Counter({
    name: 'echod_worker_restarts_total',
    help: 'Worker processes that died while serving and were restarted (--workers).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(restarts());
    },
  });
  return registry;
}
