/**
 * The echo server's lifecycle: build it, listen, serve, drain, close.
 *
 * `createEchoServer()` validates options and builds; `listen()` binds; `close()` drains the
 * way SIGTERM does and is safe to call any number of times. The state is explicit
 * (see {@link ServerState}) and every transition is logged. The rest lives beside it:
 * admission.ts decides every slot, ledger.ts keeps the books, transport-select.ts binds each
 * listener, tls.ts holds the certificates, extras.ts adds banner, prefix, digests and faults.
 */
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { AdmissionControl, type AdmissionRejection } from './admission.js';
import { addExtras } from './extras.js';
import { type ConnectionSnapshot, type ConnectionSummary, Ledger } from './ledger.js';
import { reloadTls, startTls } from './tls.js';
import { type BoundListener, bindListener, transportOf } from './transport-select.js';
import type { Connection, ConnectionContext, TlsInfo } from '../connection/connection.js';
import { DeadlineSweeper } from '../connection/deadlines.js';
import { ServerStateError } from '../core/errors.js';
import { type Framer, RawFramer, SharedLineFramers } from '../core/framing.js';
import { boundListenerName } from '../config/listen-url.js';
import { HttpMonitor } from '../http/monitor.js';
import { type EchoServerOptions, type ResolvedListener, type ResolvedOptions, type TlsOptions, resolveOptions } from '../config/options.js';
import type { RejectReason, ServerState, ShutdownTimes, ServerStats } from '../core/stats.js';
import type { Acceptor, Admission, Hold, Peer } from '../connection/transport.js';

export type { ConnectionSnapshot, ConnectionSummary };

export interface EchoServerEvents {
  /** The state changed (readiness turns false on `stopping`). */
  state: [state: ServerState];
  /**
   * A connection was accepted and is being served (`tls`: what its handshake negotiated, on tls
   * and https listeners; `listener`: its listener's URL, as `connectionClose`'s summary names it).
   */
  connection: [id: number, remoteAddress: string, remotePort: number, tls: TlsInfo | null, listener: string];
  /** A connection closed, with everything counted for it. */
  connectionClose: [summary: ConnectionSummary];
  /** A connection was refused before it was served, by the listener that accepted it (its URL). */
  reject: [reason: RejectReason, remoteAddress: string, listener: string];
}

/** Raw mode's framer keeps no state: one serves every connection. */
const RAW_FRAMER = new RawFramer();

export class EchoServer extends EventEmitter<EchoServerEvents> {
  readonly options: Readonly<ResolvedOptions>;
  /** What http and https listeners answer and refuse, request by request (metrics listen here). */
  readonly http = new HttpMonitor();
  private stateValue: ServerState = 'idle';
  /** Every bound listener, in the order configured. */
  private bound: BoundListener[] = [];
  /** Who holds a slot: open connections and sockets accepted but not yet admitted (PROXY header, TLS handshake). */
  private readonly admission: AdmissionControl;
  private readonly ledger: Ledger;
  private readonly context: ConnectionContext;
  private readonly sweeper: DeadlineSweeper;
  private nextId = 1;
  private startedAt: Date | null = null;
  private starting: Promise<AddressInfo> | null = null;
  private closing: Promise<void> | null = null;
  private drained: (() => void) | null = null;
  private shutdownTimes: ShutdownTimes | null = null;

  constructor(options: EchoServerOptions = {}) {
    super();
    this.options = Object.freeze(resolveOptions(options));
    const { logger, idleTimeoutMs, writeStallTimeoutMs, drainTimeoutMs } = this.options;
    this.ledger = new Ledger(this.options);
    this.sweeper = new DeadlineSweeper(this.ledger.connections, [idleTimeoutMs, writeStallTimeoutMs, drainTimeoutMs]);
    this.context = {
      logger,
      idleTimeoutMs: this.options.idleTimeoutMs,
      writeStallTimeoutMs: this.options.writeStallTimeoutMs,
      drainTimeoutMs: this.options.drainTimeoutMs,
      clock: this.sweeper.clock,
      // Decided once: above debug, the byte path does no logging work at all.
      logMessages: logger.isLevelEnabled('debug'),
      logContent: logger.isLevelEnabled('trace'),
      lineFramers: new SharedLineFramers(this.options.maxLineBytes),
      onClose: (connection) => this.onConnectionClosed(connection),
      onInternalError: (connection, err) => this.ledger.internalError(connection, err),
    };
    this.admission = new AdmissionControl({
      maxConnections: this.options.maxConnections,
      maxConnectionsPerIp: this.options.maxConnectionsPerIp,
    });
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
    return first !== undefined && 'port' in first ? first : null;
  }

  /** Every listener's bound address (`{ path }` for unix sockets), in the order configured. */
  get addresses(): ({ protocol: string; address: string; family: string; port: number } | { protocol: string; path: string })[] {
    if (this.stateValue === 'closed') return [];
    return this.bound.map((listener) => ({ protocol: listener.config.protocol, ...listener.address() }));
  }

  /** A consistent snapshot of the counters (cheap; safe to call often). */
  get stats(): ServerStats {
    const lifecycle = {
      state: this.stateValue,
      shutdown: this.shutdownTimes === null ? null : { ...this.shutdownTimes },
      ready: this.ready,
      startedAt: this.startedAt?.toISOString() ?? null,
    };
    return this.ledger.stats(lifecycle, this.bound);
  }

  /** Every open connection, for `GET /connections`: who, where, how much, how long. */
  connectionsSnapshot(): ConnectionSnapshot[] {
    return this.ledger.snapshot();
  }

  /** Binds and starts accepting; resolves to the bound address. */
  listen(): Promise<AddressInfo> {
    if (this.stateValue !== 'idle' || this.starting !== null || this.closing !== null) {
      return Promise.reject(
        new ServerStateError(
          `listen() called while ${this.closing !== null ? 'closing' : this.starting !== null ? 'starting' : this.stateValue}`,
        ),
      );
    }
    this.starting = this.start();
    return this.starting;
  }

  /** Swaps the tls listeners' certificates without dropping a connection (SIGHUP in the CLI). */
  async reloadTls(tls: TlsOptions): Promise<void> {
    await reloadTls(this.options.tls, tls, this.bound, this.options.logger);
  }

  private async stopListening(): Promise<void> {
    await Promise.all(this.bound.map((listener) => listener.stop()));
  }

  private async start(): Promise<AddressInfo> {
    const { logger } = this.options;
    try {
      const tls = await startTls(this.options.tls);
      const context = {
        options: this.options,
        tls,
        monitor: this.http,
        udpCounters: (config: ResolvedListener) => this.ledger.udpCounters(config),
        udpDrops: (config: ResolvedListener) => this.ledger.udpDrops(config),
      };
      for (const config of this.options.listeners) {
        const listener = await bindListener(config, { ...context, acceptor: this.acceptorFor(config) });
        this.bound.push(listener);
        // Named from now on (it may accept before listen() resolves): the URL with the bound
        // port (port 0 resolved), an inherited socket by its bound address and fd.
        this.ledger.setLabel(config, boundListenerName(config, listener.address()));
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
      logger.info(
        {
          listener: this.ledger.label(config),
          ...where,
          mode: config.mode,
          proxyProtocol: config.proxyProtocol,
          transport: transportOf(this.options, config),
        },
        'listening',
      );
    }
    return this.address ?? { address: '', family: '', port: 0 };
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
    const { connections } = this.ledger;
    // close() while listen() is binding: let the bind finish (or fail), then close what it made.
    if (this.stateValue === 'idle' && this.starting !== null) await this.starting.catch(() => {});
    if (this.stateValue === 'idle' || this.stateValue === 'closed') {
      if (this.stateValue === 'idle') this.setState('closed');
      return;
    }
    this.shutdownTimes = { acceptingUntil: new Date(Date.now() + shutdownDelayMs).toISOString(), forcedAt: null };
    this.setState('stopping');
    logger.info({ shutdownDelayMs, drainTimeoutMs, active: connections.size }, 'shutting down');
    if (shutdownDelayMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, shutdownDelayMs));
    }
    this.shutdownTimes = { acceptingUntil: new Date().toISOString(), forcedAt: new Date(Date.now() + drainTimeoutMs).toISOString() };
    this.setState('draining');
    const stopped = this.stopListening();
    const drained = new Promise<void>((resolve) => {
      this.drained = resolve;
    });
    for (const connection of connections) connection.close('shutdown');
    if (connections.size === 0) this.drained?.();
    // The sweep destroys each connection drainTimeoutMs after its close(); nothing waits longer.
    await drained;
    await stopped;
    this.sweeper.stop();
    this.ledger.flush();
    this.setState('closed');
    const { connections: counts, bytesReceived, bytesSent, lines } = this.stats;
    logger.info({ connections: counts.total, forced: counts.forced, bytesReceived, bytesSent, lines }, 'closed');
  }

  private setState(state: ServerState): void {
    this.stateValue = state;
    this.emit('state', state);
  }

  /**
   * The Acceptor `config`'s transport is given: the server's own methods, bound to `config`, so
   * every admission and every refusal (at accept, after a PROXY header, in a TLS handshake) is
   * booked to its listener.
   */
  private acceptorFor(config: ResolvedListener): Acceptor {
    return {
      admit: (peer, hold) => this.admit(peer, config, hold),
      register: (connection) => this.register(connection),
      refuse: (reason, peer, detail) => this.refuse(reason, peer, detail, config),
      hold: (peer) => this.hold(peer, config),
      identify: (hold, peer) => this.identify(hold, peer, config),
      release: (hold) => this.release(hold),
    };
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
      return this.reject('not_listening', peer, listener); // accepted by the kernel just before the listener closed
    }
    const refuseRate = listener.faults?.refuseRate ?? 0;
    const refused =
      hold === undefined ? this.admission.admitNow(peer.address, refuseRate) : this.admission.admit(hold, peer.address, refuseRate);
    if (refused !== null) return this.reject(refused, peer, listener);
    // Both start shared: a raw framer holds nothing; a line connection takes a framer of its own when it first holds part of a line.
    const framer: Framer | null = listener.mode === 'raw' ? RAW_FRAMER : null;
    return { id: this.nextId++, framer, context: this.context, listener: this.ledger.label(listener), faults: listener.faults };
  }

  /** @internal A socket `listener` accepted is taken on before it can be admitted (PROXY header, TLS handshake), if there is room. */
  hold(peer: Peer, listener: ResolvedListener): Hold | null {
    const slot = this.admission.hold(peer.address);
    return typeof slot === 'string' ? this.reject(slot, peer, listener) : slot;
  }

  /** @internal A held socket's PROXY header named its client: its slot moves to the client's address, if that has room. */
  identify(hold: Hold, peer: Peer, listener: ResolvedListener): boolean {
    const refused = this.admission.identify(hold, peer.address);
    if (refused === null) return true;
    this.reject(refused, peer, listener);
    return false;
  }

  /** @internal A held socket closed or failed before it was admitted. */
  release(hold: Hold): void {
    this.admission.release(hold);
  }

  /** @internal A socket failed before it could be served (PROXY header, TLS handshake). */
  refuse(reason: 'proxy_protocol_error' | 'tls_error', peer: Peer, detail: string, listener: ResolvedListener): void {
    const url = this.ledger.label(listener);
    this.ledger.refused(reason, peer, detail, url);
    this.emit('reject', reason, peer.address, url);
  }

  /** @internal A transport built an admitted connection. Accepted while stopping: served, then drained with the others. */
  register(connection: Connection): void {
    this.ledger.opened(connection);
    this.emit('connection', connection.id, connection.remoteAddress, connection.remotePort, connection.tls, connection.listener);
    addExtras(connection, this.options);
  }

  private reject(reason: AdmissionRejection | 'not_listening', peer: Peer, listener: ResolvedListener): null {
    const url = this.ledger.label(listener);
    this.ledger.rejected(reason, peer, url);
    this.emit('reject', reason, peer.address, url);
    return null;
  }

  private onConnectionClosed(connection: Connection): void {
    this.admission.close(connection.remoteAddress);
    const summary = this.ledger.closed(connection);
    this.emit('connectionClose', summary);
    if (this.drained !== null && this.ledger.connections.size === 0) this.drained();
  }
}

/** Builds an echo server (options validated here, once); call `listen()` to start it. */
export function createEchoServer(options: EchoServerOptions = {}): EchoServer {
  return new EchoServer(options);
}
