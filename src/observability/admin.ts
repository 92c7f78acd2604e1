/**
 * The admin HTTP endpoint, apart from the echo port: /metrics, /healthz, /readyz, /stats and
 * /connections, one entry each in ROUTES. It binds to 127.0.0.1 unless told otherwise; it
 * answers GET and HEAD only, and its own inputs are bounded (see admin-limits.ts for the
 * bounds and admin-http.ts for how each connection is held to them).
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { ServerStateError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { EchoServer } from '../server/server.js';
import type { ServerState } from '../core/stats.js';
import { AggregatedLog } from '../server/aggregated-log.js';
import { AdminHttpServer, type AdminRequest, type AdminResponse } from './admin-http.js';
import {
  ADMIN_CLOSE_REASONS,
  type AdminCloseReason,
  type AdminLimitOptions,
  type AdminLimits,
  DEFAULT_PAGE_SIZE,
  resolveAdminLimits,
} from './admin-limits.js';
import { type AdminCounters, registerAdminMetrics } from './metrics.js';
import { runtimeName, type WorkerStatus } from './status-data.js';
import { StatusFeed } from './status-feed.js';
import { statusRoutes } from './status-routes.js';

/** What the admin endpoint reports on: one echo server, or a pool of worker processes. */
export interface AdminSource {
  readonly state: ServerState;
  readonly ready: boolean;
  stats(): Promise<object>;
  /** Every open connection (GET /connections pages through them). */
  connections(): Promise<object[]>;
  metrics(): Promise<string>;
  readonly metricsContentType: string;
  /** With --workers: each worker, for the status page. */
  workers?(): readonly WorkerStatus[];
}

/**
 * A list of connections is reused for up to this long, until a connection opens or closes: a
 * flood of /connections requests then walks the connections (and serialises each page) once per
 * TTL instead of once per request — with 2,000 connections, 700 walks in a burst stalled the echo
 * bystanders by over 100 ms. Byte counts and ages in it are at most this old.
 */
const SNAPSHOT_TTL_MS = 250;

/** The admin source for one in-process server and its metrics registry. */
export function serverAdminSource(echo: EchoServer, registry: Registry): AdminSource {
  let snapshot: { at: number; list: object[] } | null = null;
  const forget = (): void => {
    snapshot = null;
  };
  echo.on('connection', forget);
  echo.on('connectionClose', forget);
  return {
    get state() {
      return echo.state;
    },
    get ready() {
      return echo.ready;
    },
    stats: () => Promise.resolve(echo.stats),
    connections: () => {
      const now = performance.now();
      if (snapshot === null || now - snapshot.at >= SNAPSHOT_TTL_MS) snapshot = { at: now, list: echo.connectionsSnapshot() };
      return Promise.resolve(snapshot.list);
    },
    metrics: () => registry.metrics(),
    metricsContentType: registry.contentType,
  };
}

export type AdminServerOptions = (
  | {
      /** The server to report on… */
      echo: EchoServer;
      /** …and its metrics (see createMetrics); the admin endpoint's own series are added to it. */
      registry: Registry;
    }
  | {
      /** Or any other source (the worker pool uses this). */
      source: AdminSource;
      /** Labels on the admin endpoint's own series (the source's metrics carry their own). @default {} */
      metricsLabels?: Record<string, string>;
    }
) &
  AdminLimitOptions & {
    /** @default '127.0.0.1' (never public unless asked) */
    host?: string;
    /** echod's version, as the status page shows it. @default 'unknown' */
    version?: string;
    /** @default 0 (a free port) */
    port?: number;
    logger: Logger;
  };

/** What a route gets besides the request. */
interface RouteContext {
  source: AdminSource;
  limits: AdminLimits;
  /** The admin endpoint's own series, in Prometheus text ('' when they are in the source's registry). */
  ownMetrics: () => Promise<string>;
}

type Route = (request: AdminRequest, context: RouteContext) => Promise<AdminResponse>;

const TEXT = { 'content-type': 'text/plain; charset=utf-8' } as const;
const JSON_TYPE = { 'content-type': 'application/json' } as const;

/** Every path the endpoint answers: a new endpoint is one more entry here. */
const ROUTES: ReadonlyMap<string, Route> = new Map<string, Route>([
  [
    '/metrics',
    async (_request, { source, ownMetrics }) => {
      const [body, own] = await Promise.all([source.metrics(), ownMetrics()]);
      return { status: 200, headers: { 'content-type': source.metricsContentType }, body: body + own };
    },
  ],
  // Alive as long as the process can answer; draining is not a reason to be restarted.
  [
    '/healthz',
    (_request, { source }) =>
      Promise.resolve(
        source.state !== 'closed'
          ? { status: 200, headers: TEXT, body: 'ok\n' }
          : { status: 503, headers: TEXT, body: `${source.state}\n` },
      ),
  ],
  [
    '/readyz',
    (_request, { source }) =>
      Promise.resolve(
        source.ready ? { status: 200, headers: TEXT, body: 'ready\n' } : { status: 503, headers: TEXT, body: `${source.state}\n` },
      ),
  ],
  ['/stats', async (_request, { source }) => ({ status: 200, headers: JSON_TYPE, body: `${JSON.stringify(await source.stats())}\n` })],
  ['/connections', connectionsPage],
]);

/**
 * GET /connections?limit=&offset=: one page of the open connections, so that no response grows
 * with the number of connections: `{ total, offset, limit, next, connections }`, where `next`
 * is the offset of the following page or null on the last one.
 */
async function connectionsPage(request: AdminRequest, { source, limits }: RouteContext): Promise<AdminResponse> {
  const limit = pageNumber(request.query.get('limit'), Math.min(DEFAULT_PAGE_SIZE, limits.maxPageSize), 1);
  const offset = pageNumber(request.query.get('offset'), 0, 0);
  if (limit === null || offset === null) {
    return { status: 400, headers: TEXT, body: 'limit and offset must be whole numbers (limit ≥ 1)\n' };
  }
  const pageSize = Math.min(limit, limits.maxPageSize);
  const all = await source.connections();
  let bodies = pages.get(all);
  if (bodies === undefined) pages.set(all, (bodies = new Map<string, string>()));
  const key = `${offset}:${pageSize}`;
  let body = bodies.get(key);
  if (body === undefined) {
    const connections = all.slice(offset, offset + pageSize);
    const next = offset + connections.length < all.length ? offset + connections.length : null;
    body = `${JSON.stringify({ total: all.length, offset, limit: pageSize, next, connections })}\n`;
    bodies.set(key, body);
  }
  return { status: 200, headers: JSON_TYPE, body };
}

/** Response bodies by `offset:limit`, for each list of connections a source handed out. */
const pages = new WeakMap<object[], Map<string, string>>();

function pageNumber(text: string | null, fallback: number, min: number): number | null {
  if (text === null || text === '') return fallback;
  if (!/^\d{1,15}$/.test(text)) return null;
  const value = Number(text);
  return value >= min ? value : null;
}

const NOT_FOUND = `not found: try ${[...ROUTES.keys()].join(', ')}\n`;

/** Close reasons that say a client misbehaved or a bound was hit: each is logged (aggregated). */
const LOGGED_REASONS: ReadonlySet<AdminCloseReason> = new Set([
  'headers_timeout',
  'request_timeout',
  'header_too_large',
  'bad_request',
  'evicted',
  'refused',
]);

export class AdminServer {
  private readonly http: AdminHttpServer;
  private readonly options: AdminServerOptions;
  private readonly source: AdminSource;
  private readonly limits: AdminLimits;
  private readonly counters: AdminCounters;
  private readonly log: AggregatedLog<AdminCloseReason>;
  private readonly context: RouteContext;
  /** The status page (`/`, `/status`, `/api/status`…): one sample a second, shared by every viewer. */
  private readonly status: StatusFeed;
  private readonly statusRoutes: ReturnType<typeof statusRoutes>;
  private starting: Promise<AddressInfo> | null = null;
  private closing: Promise<void> | null = null;

  /** Throws InvalidOptionError (ERR_ECHOD_INVALID_OPTION) naming a bad bound. */
  constructor(options: AdminServerOptions) {
    this.options = options;
    this.limits = resolveAdminLimits(options);
    this.source = 'source' in options ? options.source : serverAdminSource(options.echo, options.registry);
    this.log = new AggregatedLog(options.logger, 'admin connection closed');
    const closed = Object.fromEntries(ADMIN_CLOSE_REASONS.map((reason) => [reason, 0])) as Record<AdminCloseReason, number>;
    const counters: AdminCounters = { active: () => this.http.active, limits: this.limits, closed, requests: new Map() };
    this.counters = counters;
    this.http = new AdminHttpServer(this.limits, (request) => this.route(request), {
      closed: (reason, remote) => {
        closed[reason]++;
        if (LOGGED_REASONS.has(reason)) this.log.record(reason, { remote });
      },
      answered: (status) => counters.requests.set(status, (counters.requests.get(status) ?? 0) + 1),
      failed: (err) => options.logger.error({ err }, 'admin request failed'),
    });
    this.context = this.routeContext(
      'registry' in options ? options.registry : null,
      'metricsLabels' in options ? options.metricsLabels : undefined,
    );
    this.status = new StatusFeed(this.source, { version: options.version ?? 'unknown', runtime: runtimeName(), pid: process.pid });
    this.statusRoutes = statusRoutes(this.status);
  }

  /** Binds; rejects with ServerStateError after close() or on a second call. */
  listen(): Promise<AddressInfo> {
    if (this.starting !== null || this.closing !== null) {
      return Promise.reject(new ServerStateError(`admin listen() called while ${this.closing !== null ? 'closed' : 'starting'}`));
    }
    this.starting = this.bind();
    return this.starting;
  }

  /** Stops listening and drops every admin connection. Idempotent; waits for a bind in progress. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private route(request: AdminRequest): Promise<AdminResponse> {
    const route = ROUTES.get(request.path) ?? this.statusRoutes.get(request.path);
    if (route === undefined) return Promise.resolve({ status: 404, headers: TEXT, body: NOT_FOUND });
    return route(request, this.context);
  }

  /** The admin series go into the echo registry when there is one, else into a registry of their own. */
  private routeContext(registry: Registry | null, labels: Record<string, string> | undefined): RouteContext {
    if (registry !== null) {
      registerAdminMetrics(registry, this.counters);
      return { source: this.source, limits: this.limits, ownMetrics: () => Promise.resolve('') };
    }
    const own = new Registry();
    if (labels !== undefined) own.setDefaultLabels(labels);
    registerAdminMetrics(own, this.counters);
    return { source: this.source, limits: this.limits, ownMetrics: () => own.metrics() };
  }

  private async bind(): Promise<AddressInfo> {
    const server = this.http.server;
    const listening = once(server, 'listening');
    server.listen({ host: this.options.host ?? '127.0.0.1', port: this.options.port ?? 0 });
    await listening;
    this.status.start();
    const address = server.address() as AddressInfo;
    this.options.logger.info({ address: address.address, port: address.port, limits: this.limits }, 'admin endpoint listening');
    return address;
  }

  private async shutdown(): Promise<void> {
    await this.starting?.catch(() => {});
    const server = this.http.server;
    if (!server.listening) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    this.status.stop();
    this.http.closeAll();
    await closed;
    this.log.flush();
  }
}
