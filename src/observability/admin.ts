/**
 * The admin HTTP endpoint, apart from the echo port: /metrics, /healthz, /readyz, /stats.
 * It binds to 127.0.0.1 unless told otherwise; it answers GET and HEAD only, and its own
 * inputs are bounded (header size and time, request time, connections).
 */
import { once } from 'node:events';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ServerStateError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { EchoServer } from '../server/server.js';
import type { ServerState } from '../core/stats.js';

/** What the admin endpoint reports on: one echo server, or a pool of worker processes. */
export interface AdminSource {
  readonly state: ServerState;
  readonly ready: boolean;
  stats(): Promise<object>;
  /** Every open connection (GET /connections). */
  connections(): Promise<object[]>;
  metrics(): Promise<string>;
  readonly metricsContentType: string;
}

/** The admin source for one in-process server and its metrics registry. */
export function serverAdminSource(echo: EchoServer, registry: Registry): AdminSource {
  return {
    get state() {
      return echo.state;
    },
    get ready() {
      return echo.ready;
    },
    stats: () => Promise.resolve(echo.stats),
    connections: () => Promise.resolve(echo.connectionsSnapshot()),
    metrics: () => registry.metrics(),
    metricsContentType: registry.contentType,
  };
}

export type AdminServerOptions = (
  | {
      /** The server to report on… */
      echo: EchoServer;
      /** …and its metrics (see createMetrics). */
      registry: Registry;
    }
  | {
      /** Or any other source (the worker pool uses this). */
      source: AdminSource;
    }
) & {
  /** @default '127.0.0.1' (never public unless asked) */
  host?: string;
  /** @default 0 (a free port) */
  port?: number;
  logger: Logger;
};

/** Scrapers and probes need few connections; anything beyond this is refused. */
const ADMIN_MAX_CONNECTIONS = 64;
const ADMIN_HEADERS_TIMEOUT_MS = 5000;
const ADMIN_REQUEST_TIMEOUT_MS = 10_000;
const ADMIN_MAX_HEADER_BYTES = 8192;

export class AdminServer {
  private readonly server: Server;
  private readonly options: AdminServerOptions;
  private readonly source: AdminSource;
  private starting: Promise<AddressInfo> | null = null;
  private closing: Promise<void> | null = null;

  constructor(options: AdminServerOptions) {
    this.options = options;
    this.source = 'source' in options ? options.source : serverAdminSource(options.echo, options.registry);
    this.server = createServer({ maxHeaderSize: ADMIN_MAX_HEADER_BYTES, requestTimeout: ADMIN_REQUEST_TIMEOUT_MS, headersTimeout: ADMIN_HEADERS_TIMEOUT_MS }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        options.logger.error({ err }, 'admin request failed');
        if (!res.headersSent) res.writeHead(500).end('internal error\n');
        else res.destroy();
      });
    });
    this.server.maxConnections = ADMIN_MAX_CONNECTIONS;
    this.server.on('clientError', (_err, socket) => socket.destroy());
  }

  /** Binds; rejects with ServerStateError after close() or on a second call. */
  listen(): Promise<AddressInfo> {
    if (this.starting !== null || this.closing !== null) {
      return Promise.reject(new ServerStateError(`admin listen() called while ${this.closing !== null ? 'closed' : 'starting'}`));
    }
    this.starting = this.bind();
    return this.starting;
  }

  /** Stops listening and drops idle keep-alive connections. Idempotent; waits for a bind in progress. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async bind(): Promise<AddressInfo> {
    const listening = once(this.server, 'listening');
    this.server.listen({ host: this.options.host ?? '127.0.0.1', port: this.options.port ?? 0 });
    await listening;
    const address = this.server.address() as AddressInfo;
    this.options.logger.info({ address: address.address, port: address.port }, 'admin endpoint listening');
    return address;
  }

  private async shutdown(): Promise<void> {
    await this.starting?.catch(() => {});
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    const path = (req.url ?? '/').split('?', 1)[0];
    const source = this.source;
    switch (path) {
      case '/metrics': {
        const body = await source.metrics();
        res.writeHead(200, { 'content-type': source.metricsContentType }).end(body);
        return;
      }
      case '/healthz': {
        // Alive as long as the process can answer; draining is not a reason to be restarted.
        const healthy = source.state !== 'closed';
        res.writeHead(healthy ? 200 : 503, { 'content-type': 'text/plain' }).end(healthy ? 'ok\n' : `${source.state}\n`);
        return;
      }
      case '/readyz': {
        const ready = source.ready;
        res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : `${source.state}\n`);
        return;
      }
      case '/stats': {
        const stats = await source.stats();
        res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(stats)}\n`);
        return;
      }
      case '/connections': {
        const connections = await source.connections();
        res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(connections)}\n`);
        return;
      }
      default:
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz, /readyz, /stats or /connections\n');
    }
  }
}
