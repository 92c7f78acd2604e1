/**
 * Transport selection: which transport binds and serves each listener (node:net and node:tls,
 * Bun.listen, node:http, node:dgram), decided in one function. The only file in server/ that
 * imports transports/ (eslint.config.js enforces it): the rest of the server sees `Listener`.
 */
import type { SecureContextOptions } from 'node:tls';
import { HTTP_PROTOCOLS } from '../config/listen-url.js';
import type { ResolvedListener, ResolvedOptions, TlsSettings } from '../config/options.js';
import type { Acceptor, Listener, ListenSpec } from '../connection/transport.js';
import type { UdpCounters } from '../core/stats.js';
import type { HttpMonitor } from '../http/monitor.js';
import { bunCanServe, bunRuntime, listenBun } from '../transports/bun.js';
import { listenHttp } from '../transports/http.js';
import { listenNode } from '../transports/node.js';
import { type UdpDropLog, UdpEchoListener } from '../transports/udp.js';

export type { UdpDropLog };

/** A bound listener of any kind; tls and https ones take new certificates (SIGHUP). */
export type BoundListener = Listener & { setSecureContext?(options: SecureContextOptions): void };

/** What binding a listener needs from the server. */
export interface BindContext {
  options: Readonly<ResolvedOptions>;
  acceptor: Acceptor;
  /** The tls and https listeners' settings, or null without TLS. */
  tls: TlsSettings | null;
  /** http and https listeners report each request here. */
  monitor: HttpMonitor;
  /** A udp listener's own counters (the ledger sums them for /stats). */
  udpCounters(config: ResolvedListener): UdpCounters;
  /** Where a udp listener's drops are logged. */
  udpDrops(config: ResolvedListener): UdpDropLog;
}

/** Binds `config` with the transport that serves it; rejects with the bind error. */
export async function bindListener(config: ResolvedListener, context: BindContext): Promise<BoundListener> {
  const { options, acceptor, tls } = context;
  const { backlog, noDelay, reusePort, proxyProtocolTimeoutMs, directRead, logger } = options;
  if (config.protocol === 'udp') {
    const udp = new UdpEchoListener(config, options.udpRatePerSource, context.udpCounters(config), logger, context.udpDrops(config));
    await udp.listen();
    return udp;
  }
  const spec: ListenSpec = { listener: config, backlog, noDelay, reusePort, proxyProtocolTimeoutMs, directRead };
  if (HTTP_PROTOCOLS.includes(config.protocol)) {
    return listenHttp(spec, { acceptor, logger, tls, http: options.http, monitor: context.monitor, serverId: options.serverId });
  }
  const bun = options.transport === 'node' || !bunCanServe(spec) ? undefined : bunRuntime();
  return bun !== undefined ? listenBun(bun, spec, acceptor) : listenNode(spec, acceptor, logger, tls);
}

/** Which transport serves `config`'s connections, as the `listening` log line names it. */
export function transportOf(options: Readonly<ResolvedOptions>, config: ResolvedListener): 'node' | 'bun' {
  if (config.protocol === 'udp') return 'node';
  const spec = { listener: config, backlog: 0, noDelay: true, reusePort: false, proxyProtocolTimeoutMs: 0, directRead: false };
  return options.transport !== 'node' && bunCanServe(spec) && bunRuntime() !== undefined ? 'bun' : 'node';
}
