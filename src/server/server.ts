/**
 * The echo server's lifecycle: build it, listen, serve, drain, close.
 *
 * `createEchoServer()` validates options and builds; `listen()` binds; `close()` drains the
 * way SIGTERM does and is safe to call any number of times. The state is explicit
 * (see {@link ServerState}) and every transition is logged.
 */
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { AdmissionControl, type AdmissionRefusal } from './admission.js';
import { AggregatedLog } from './aggregated-log.js';
import type { Connection, ConnectionContext } from '../connection/connection.js';
import { clockMs, DeadlineSweeper } from '../connection/deadlines.js';
import { ServerStateError } from '../core/errors.js';
import { type Framer, LineFramer, RawFramer } from '../core/framing.js';
import { bunCanServe, bunRuntime, listenBun } from '../transports/bun.js';
import { formatListener, HTTP_PROTOCOLS } from '../config/listen-url.js';
import { listenNode } from '../transports/node.js';
import { listenHttp } from '../transports/http.js';
import { HttpMonitor } from '../http/monitor.js';
import type { SecureContextOptions } from 'node:tls';
import { type EchoServerOptions, type ResolvedListener, type ResolvedOptions, type TlsOptions, resolveOptions } from '../config/options.js';
import { tlsSettings } from '../config/self-signed.js';
import { UDP_DROP_REASONS, type UdpCounters, type UdpDropReason, UdpEchoListener } from '../transports/udp.js';
import { StreamDigest } from '../core/digest.js';
import { shapesOutput } from '../config/faults.js';
import { OutputShaper } from '../connection/shaper.js';
import { expandTemplate, type TemplateValues, unescapeTemplate } from '../core/template.js';
import { hostname } from 'node:os';
import {
  CLOSE_REASONS,
  type CloseReason,
  REJECT_REASONS,
  type ListenerStats,
  type RejectReason,
  type ServerState,
  type ShutdownTimes,
  type ServerStats,
  zeroCounts,
} from '../core/stats.js';
import type { Acceptor, Admission, Hold, Listener, ListenSpec, Peer } from '../connection/transport.js';

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
}

export interface EchoServerEvents {
  /** The state changed (readiness turns false on `stopping`). */
  state: [state: ServerState];
  /** A connection was accepted and is being served. */
  connection: [id: number, remoteAddress: string, remotePort: number];
  /** A connection closed, with everything counted for it. */
  connectionClose: [summary: ConnectionSummary];
  /** A connection was refused as soon as it was accepted. */
  reject: [reason: RejectReason, remoteAddress: string];
}

export class EchoServer extends EventEmitter<EchoServerEvents> implements Acceptor {
  readonly options: Readonly<ResolvedOptions>;
  /** What http and https listeners answer and refuse, request by request (metrics listen here). */
  readonly http = new HttpMonitor();
  private stateValue: ServerState = 'idle';
  private streamListeners: (Listener & { setSecureContext?(options: SecureContextOptions): void })[] = [];
  private udpListeners: UdpEchoListener[] = [];
  /** Every bound listener, in the order configured. */
  private bound: (Listener | UdpEchoListener)[] = [];
  /** Each listener's URL with its bound port (for port 0), as logs and /connections show it. */
  private readonly labels = new Map<ResolvedListener, string>();
  private readonly udp: UdpCounters = { received: 0, echoed: 0, bytesReceived: 0, bytesSent: 0, dropped: zeroCounts(UDP_DROP_REASONS), duplicated: 0 };
  /** Who holds a slot: open connections and sockets accepted but not yet admitted (PROXY header, TLS handshake). */
  private readonly admission: AdmissionControl;
  private readonly connections = new Set<Connection>();
  private readonly context: ConnectionContext;
  private readonly rejectLog: AggregatedLog<RejectReason>;
  private readonly udpDropLog: AggregatedLog<UdpDropReason>;
  private readonly sweeper: DeadlineSweeper;
  private nextId = 1;
  private startedAt: Date | null = null;
  private starting: Promise<AddressInfo> | null = null;
  private closing: Promise<void> | null = null;
  private drained: (() => void) | null = null;
  // Totals of the connections that have closed; the open ones are added in on demand.
  private closedBytesReceived = 0;
  private closedBytesSent = 0;
  private closedLines = 0;
  private total = 0;
  /** Most connections open at once, and each listener's served count (by URL): for the status page. */
  private peak = 0;
  private readonly servedByListener = new Map<string, number>();
  private shutdownTimes: ShutdownTimes | null = null;
  private forced = 0;
  private internalErrors = 0;
  private readonly closedByReason = zeroCounts(CLOSE_REASONS);
  private readonly rejectedByReason = zeroCounts(REJECT_REASONS);

  constructor(options: EchoServerOptions = {}) {
    super();
    this.options = Object.freeze(resolveOptions(options));
    const { logger, idleTimeoutMs, writeStallTimeoutMs, drainTimeoutMs } = this.options;
    this.sweeper = new DeadlineSweeper(this.connections, [idleTimeoutMs, writeStallTimeoutMs, drainTimeoutMs]);
    this.context = {
      logger,
      idleTimeoutMs: this.options.idleTimeoutMs,
      writeStallTimeoutMs: this.options.writeStallTimeoutMs,
      drainTimeoutMs: this.options.drainTimeoutMs,
      clock: this.sweeper.clock,
      // Decided once: above debug, the byte path does no logging work at all.
      logMessages: logger.isLevelEnabled('debug'),
      logContent: logger.isLevelEnabled('trace'),
      onClose: (connection) => this.onConnectionClosed(connection),
      onInternalError: (connection, err) => {
        this.internalErrors++;
        logger.error({ err, connId: connection.id }, 'internal error handling a connection; closing it');
      },
    };
    this.rejectLog = new AggregatedLog(logger, 'connection rejected');
    this.udpDropLog = new AggregatedLog(logger, 'udp datagram dropped');
    this.admission = new AdmissionControl({ maxConnections: this.options.maxConnections, maxConnectionsPerIp: this.options.maxConnectionsPerIp });
  }

  /** Which transport serves the connections: `bun` (Bun.listen) under Bun, else `node` (node:net). */
  get transport(): 'node' | 'bun' {
    return this.options.transport !== 'node' && bunRuntime() !== undefined ? 'bun' : 'node';
  }

  get state(): ServerState {
    return this.stateValue;
  }

  /** True while new connections are welcome: listening and not yet shutting down. */
  get ready(): boolean {
    return this.stateValue === 'listening';
  }

  /** The first listener's bound address once listening, else null (see `addresses` for all). */
  get address(): AddressInfo | null {
    if (this.stateValue === 'closed') return null;
    const first = this.addresses[0];
    return first !== undefined && 'port' in first ? (first) : null;
  }

  /** Every listener's bound address (`{ path }` for unix sockets), in the order configured. */
  get addresses(): ({ protocol: string; address: string; family: string; port: number } | { protocol: string; path: string })[] {
    if (this.stateValue === 'closed') return [];
    return this.bound.map((listener) => ({ protocol: listener.config.protocol, ...listener.address() }));
  }

  /** A consistent snapshot of the counters (cheap; safe to call often). */
  get stats(): ServerStats {
    let bytesReceived = this.closedBytesReceived;
    let bytesSent = this.closedBytesSent;
    let lines = this.closedLines;
    const activeByListener = new Map<string, number>();
    for (const connection of this.connections) {
      bytesReceived += connection.bytesReceived;
      bytesSent += connection.bytesSent;
      lines += connection.lines;
      activeByListener.set(connection.listener, (activeByListener.get(connection.listener) ?? 0) + 1);
    }
    return {
      serverId: this.options.serverId,
      state: this.stateValue,
      shutdown: this.shutdownTimes === null ? null : { ...this.shutdownTimes },
      ready: this.ready,
      startedAt: this.startedAt?.toISOString() ?? null,
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
      listeners: this.listenerStats(activeByListener),
      udp: { ...this.udp, dropped: { ...this.udp.dropped } },
    };
  }

  /** Each bound listener's settings and connection counts (URLs as connections carry them). */
  private listenerStats(activeByListener: ReadonlyMap<string, number>): ListenerStats[] {
    const tls = this.options.tls;
    return this.bound.map(({ config }) => {
      const url = this.labels.get(config) ?? formatListener(config);
      return {
        url,
        protocol: config.protocol,
        mode: config.mode,
        proxyProtocol: config.proxyProtocol,
        tls: config.protocol === 'tls' && tls !== null ? { minVersion: tls.minVersion, clientAuth: tls.clientAuth, selfSigned: tls.selfSigned } : null,
        active: activeByListener.get(url) ?? 0,
        total: this.servedByListener.get(url) ?? 0,
      };
    });
  }

  /** Every open connection, for `GET /connections`: who, where, how much, how long. */
  connectionsSnapshot(): ConnectionSnapshot[] {
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
    }));
  }

  /** Binds and starts accepting; resolves to the bound address. */
  listen(): Promise<AddressInfo> {
    if (this.stateValue !== 'idle' || this.starting !== null || this.closing !== null) {
      return Promise.reject(new ServerStateError(`listen() called while ${this.closing !== null ? 'closing' : this.starting !== null ? 'starting' : this.stateValue}`));
    }
    this.starting = this.start();
    return this.starting;
  }

  /** Swaps the tls listeners' certificates without dropping a connection (SIGHUP in the CLI). */
  async reloadTls(tls: TlsOptions): Promise<void> {
    const current = this.options.tls;
    const settings = await tlsSettings({
      cert: tls.cert ?? null,
      key: tls.key ?? null,
      ca: tls.ca ?? current?.ca ?? null,
      clientAuth: tls.clientAuth ?? current?.clientAuth ?? 'none',
      minVersion: tls.minVersion ?? current?.minVersion ?? 'TLSv1.2',
      selfSigned: tls.selfSigned ?? false,
    });
    for (const listener of this.streamListeners) listener.setSecureContext?.(settings.context);
    this.options.logger.info('tls certificates reloaded');
  }

  private transportOf(config: ResolvedListener): 'node' | 'bun' {
    if (config.protocol === 'udp') return 'node';
    const spec = { listener: config, backlog: 0, noDelay: true, reusePort: false, proxyProtocolTimeoutMs: 0, directRead: false };
    return this.options.transport !== 'node' && bunCanServe(spec) && bunRuntime() !== undefined ? 'bun' : 'node';
  }

  private async stopListening(): Promise<void> {
    await Promise.all([...this.streamListeners.map((listener) => listener.stop()), ...this.udpListeners.map((listener) => listener.stop())]);
  }

  private async start(): Promise<AddressInfo> {
    const { backlog, noDelay, reusePort, proxyProtocolTimeoutMs, directRead, logger } = this.options;
    try {
      const tls = this.options.tls === null ? null : await tlsSettings(this.options.tls);
      for (const config of this.options.listeners) {
        if (config.protocol === 'udp') {
          const drops = { record: (reason: UdpDropReason, details: object) => this.udpDropLog.record(reason, { listener: this.labels.get(config), ...details }) };
          const udp = new UdpEchoListener(config, this.options.udpRatePerSource, this.udp, logger, drops);
          await udp.listen();
          this.udpListeners.push(udp);
          this.bound.push(udp);
          continue;
        }
        const spec: ListenSpec = { listener: config, backlog, noDelay, reusePort, proxyProtocolTimeoutMs, directRead };
        if (HTTP_PROTOCOLS.includes(config.protocol)) {
          const http = await listenHttp(spec, { acceptor: this, logger, tls, http: this.options.http, monitor: this.http, serverId: this.options.serverId });
          this.streamListeners.push(http);
          this.bound.push(http);
          continue;
        }
        const bun = this.options.transport === 'node' || !bunCanServe(spec) ? undefined : bunRuntime();
        const listener = bun !== undefined ? await listenBun(bun, spec, this, logger) : await listenNode(spec, this, logger, tls);
        this.streamListeners.push(listener);
        this.bound.push(listener);
      }
    } catch (err) {
      await this.stopListening();
      this.setState('closed');
      throw err;
    }
    this.startedAt = new Date();
    this.sweeper.start();
    this.setState('listening');
    for (const listener of this.bound) {
      const { config } = listener;
      const bound = listener.address();
      const where = 'port' in bound ? { address: bound.address, port: bound.port, family: bound.family } : { path: bound.path };
      // The URL with the bound port (port 0 resolved): what logs and /connections call it.
      const url = formatListener({ ...config, port: 'port' in bound ? bound.port : config.port });
      this.labels.set(config, url);
      logger.info({ listener: url, ...where, mode: config.mode, proxyProtocol: config.proxyProtocol, transport: this.transportOf(config) }, 'listening');
    }
    return (this.address ?? { address: '', family: '', port: 0 });
  }

  /**
   * Drains and closes, as on SIGTERM: readiness turns false; after `shutdownDelayMs` the
   * listener stops accepting; every open connection gets what it sent echoed, then is closed;
   * whatever is still open after `drainTimeoutMs` is destroyed. Idempotent: every call returns
   * the same promise.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const { logger, shutdownDelayMs, drainTimeoutMs } = this.options;
    // close() while listen() is binding: let the bind finish (or fail), then close what it made.
    if (this.stateValue === 'idle' && this.starting !== null) await this.starting.catch(() => {});
    if (this.stateValue === 'idle' || this.stateValue === 'closed') {
      if (this.stateValue === 'idle') this.setState('closed');
      return;
    }
    this.shutdownTimes = { acceptingUntil: new Date(Date.now() + shutdownDelayMs).toISOString(), forcedAt: null };
    this.setState('stopping');
    logger.info({ shutdownDelayMs, drainTimeoutMs, active: this.connections.size }, 'shutting down');
    if (shutdownDelayMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, shutdownDelayMs));
    }
    this.shutdownTimes = { acceptingUntil: new Date().toISOString(), forcedAt: new Date(Date.now() + drainTimeoutMs).toISOString() };
    this.setState('draining');
    const stopped = this.stopListening();
    const drained = new Promise<void>((resolve) => {
      this.drained = resolve;
    });
    for (const connection of this.connections) connection.close('shutdown');
    if (this.connections.size === 0) this.drained?.();
    // The sweep destroys each connection drainTimeoutMs after its close(); nothing waits longer.
    await drained;
    await stopped;
    this.sweeper.stop();
    this.rejectLog.flush();
    this.udpDropLog.flush();
    this.setState('closed');
    const { connections, bytesReceived, bytesSent, lines } = this.stats;
    logger.info({ connections: connections.total, forced: connections.forced, bytesReceived, bytesSent, lines }, 'closed');
  }

  private setState(state: ServerState): void {
    this.stateValue = state;
    this.emit('state', state);
  }

  /**
   * @internal The transports' question: may this client be served? Null closes it at once.
   * With `hold`, the slot it claimed at accept becomes the connection's (see admission.ts).
   */
  admit(peer: Peer, listener: ResolvedListener, hold?: Hold): Admission | null {
    // A listener serves from the moment it is bound, though listen() has not finished: node:cluster
    // hands a worker its first connection in the same IPC read as its listen reply, and with
    // several listeners the first accepts while the next binds.
    const starting = this.stateValue === 'idle' && this.starting !== null;
    if (!starting && this.stateValue !== 'listening' && this.stateValue !== 'stopping') {
      if (hold !== undefined) this.admission.release(hold);
      return this.reject('not_listening', peer); // accepted by the kernel just before the listener closed
    }
    const refuseRate = listener.faults?.refuseRate ?? 0;
    const refused = hold === undefined ? this.admission.admitNow(peer.address, refuseRate) : this.admission.admit(hold, peer.address, refuseRate);
    if (refused !== null) return this.reject(refused, peer);
    const framer: Framer = listener.mode === 'raw' ? new RawFramer() : new LineFramer(this.options.maxLineBytes);
    return { id: this.nextId++, framer, context: this.context, listener: this.labels.get(listener) ?? formatListener(listener), faults: listener.faults };
  }

  /** @internal A socket is taken on before it can be admitted (PROXY header, TLS handshake), if there is room. */
  hold(peer: Peer): Hold | null {
    const slot = this.admission.hold(peer.address);
    return typeof slot === 'string' ? this.reject(slot, peer) : slot;
  }

  /** @internal A held socket's PROXY header named its client: its slot moves to the client's address, if that has room. */
  identify(hold: Hold, peer: Peer): boolean {
    const refused = this.admission.identify(hold, peer.address);
    if (refused === null) return true;
    this.reject(refused, peer);
    return false;
  }

  /** @internal A held socket closed or failed before it was admitted. */
  release(hold: Hold): void {
    this.admission.release(hold);
  }

  /** @internal A socket failed before it could be served (PROXY header, TLS handshake). */
  refuse(reason: 'proxy_protocol_error' | 'tls_error', peer: Peer, detail: string): void {
    this.rejectedByReason[reason]++;
    this.rejectLog.record(reason, { remote: peer.address, remotePort: peer.port, detail });
    this.emit('reject', reason, peer.address);
  }

  /** @internal A transport built an admitted connection. Accepted while stopping: served, then drained with the others. */
  register(connection: Connection): void {
    this.connections.add(connection);
    this.total++;
    this.peak = Math.max(this.peak, this.connections.size);
    this.servedByListener.set(connection.listener, (this.servedByListener.get(connection.listener) ?? 0) + 1);
    this.options.logger.info(
      {
        connId: connection.id,
        remote: connection.remoteAddress,
        remotePort: connection.remotePort,
        listener: connection.listener,
        ...(connection.via !== null ? { via: connection.via } : {}),
        ...(connection.proxy !== null ? { proxy: connection.proxy } : {}),
      },
      'connection opened',
    );
    this.emit('connection', connection.id, connection.remoteAddress, connection.remotePort);
    this.addExtras(connection);
  }

  /** Banner, prefix, digests and faults: only for connections that have any. */
  private addExtras(connection: Connection): void {
    const { banner, prefix, digest } = this.options;
    const faults = connection.faults;
    const shaped = shapesOutput(faults);
    if (banner === '' && prefix === '' && digest === 'off' && !shaped && faults?.acceptThenHang !== true) return;
    const values = (): TemplateValues => ({
      hostname: hostname(),
      pid: process.pid,
      server_id: this.options.serverId,
      conn_id: connection.id,
      remote: `${connection.remoteAddress}:${connection.remotePort}`,
      local: `${connection.local.address}:${connection.local.port}`,
      proxy_source: connection.proxy?.source !== undefined ? `${connection.proxy.source.address}:${connection.proxy.source.port}` : '',
      time: new Date().toISOString(),
      env: process.env,
    });
    if (prefix !== '' || digest !== 'off' || shaped) {
      connection.extras = {
        prefix: prefix === '' ? null : Buffer.from(expandTemplate(unescapeTemplate(prefix), values())),
        digestIn: digest === 'off' ? null : new StreamDigest(digest),
        digestOut: digest === 'off' ? null : new StreamDigest(digest),
        shaper: shaped && faults !== null ? new OutputShaper(faults, connection) : null,
      };
    }
    if (banner !== '') {
      const line = expandTemplate(unescapeTemplate(banner), values());
      connection.sendBanner(Buffer.from(line.endsWith('\n') ? line : `${line}\n`));
    }
    if (faults?.acceptThenHang === true) connection.hang();
  }

  private reject(reason: AdmissionRefusal | 'not_listening', peer: Peer): null {
    const { maxConnections, maxConnectionsPerIp } = this.options;
    const limit = reason === 'max_connections' ? maxConnections : reason === 'max_connections_per_ip' ? maxConnectionsPerIp : 0;
    this.rejectedByReason[reason]++;
    this.rejectLog.record(reason, { remote: peer.address, remotePort: peer.port, ...(peer.via !== undefined ? { via: peer.via.address } : {}), limit });
    this.emit('reject', reason, peer.address);
    return null;
  }

  private onConnectionClosed(connection: Connection): void {
    this.connections.delete(connection);
    this.admission.close(connection.remoteAddress);
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
          ? { algorithm: connection.extras.digestIn.algorithm, received: connection.extras.digestIn.hex(), sent: connection.extras.digestOut.hex() }
          : null,
    };
    this.closedBytesReceived += summary.bytesReceived;
    this.closedBytesSent += summary.bytesSent;
    this.closedLines += summary.lines;
    this.closedByReason[reason]++;
    if (summary.forced) this.forced++;
    const level = reason === 'error' ? 'warn' : 'info';
    this.options.logger[level](
      {
        connId: summary.id,
        remote: summary.remoteAddress,
        remotePort: summary.remotePort,
        listener: summary.listener,
        ...(summary.via !== null ? { via: summary.via } : {}),
        ...(connection.tls !== null ? { tls: connection.tls } : {}),
        ...(summary.digest !== null ? { digest: summary.digest } : {}),
        reason,
        ...(summary.forced ? { forced: true } : {}),
        ...(connection.errorCode !== null ? { errorCode: connection.errorCode } : {}),
        bytesIn: summary.bytesReceived,
        bytesOut: summary.bytesSent,
        lines: summary.lines,
        ...(summary.discardedTailBytes > 0 ? { discardedTailBytes: summary.discardedTailBytes } : {}),
        durationMs: summary.durationMs,
      },
      'connection closed',
    );
    this.emit('connectionClose', summary);
    if (this.drained !== null && this.connections.size === 0) this.drained();
  }
}

/** Builds an echo server (options validated here, once); call `listen()` to start it. */
export function createEchoServer(options: EchoServerOptions = {}): EchoServer {
  return new EchoServer(options);
}
