/**
 * The admin HTTP endpoint, apart from the echo port: /metrics, /healthz, /readyz, /stats.
 * It binds to 127.0.0.1 unless told otherwise; it answers GET and HEAD only, and its own
 * inputs are bounded (header size and time, request time, connections).
 */
import { once } from 'node:events';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from './log.js';
import type { EchoServer } from './server.js';

export interface AdminServerOptions {
  echo: EchoServer;
  registry: Registry;
  /** @default '127.0.0.1' (never public unless asked) */
  host?: string;
  /** @default 0 (a free port) */
  port?: number;
  logger: Logger;
}

/** Scrapers and probes need few connections; anything beyond this is refused. */
const ADMIN_MAX_CONNECTIONS = 64;
const ADMIN_HEADERS_TIMEOUT_MS = 5000;
const ADMIN_REQUEST_TIMEOUT_MS = 10_000;
const ADMIN_MAX_HEADER_BYTES = 8192;

export class AdminServer {
  private readonly server: Server;
  private readonly options: AdminServerOptions;

  constructor(options: AdminServerOptions) {
    this.options = options;
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

  async listen(): Promise<AddressInfo> {
    const listening = once(this.server, 'listening');
    this.server.listen({ host: this.options.host ?? '127.0.0.1', port: this.options.port ?? 0 });
    await listening;
    const address = this.server.address() as AddressInfo;
    this.options.logger.info({ address: address.address, port: address.port }, 'admin endpoint listening');
    return address;
  }

  async close(): Promise<void> {
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
    const { echo, registry } = this.options;
    switch (path) {
      case '/metrics': {
        const body = await registry.metrics();
        res.writeHead(200, { 'content-type': registry.contentType }).end(body);
        return;
      }
      case '/healthz': {
        // Alive as long as the process can answer; draining is not a reason to be restarted.
        const healthy = echo.state !== 'closed';
        res.writeHead(healthy ? 200 : 503, { 'content-type': 'text/plain' }).end(healthy ? 'ok\n' : `${echo.state}\n`);
        return;
      }
      case '/readyz': {
        const ready = echo.ready;
        res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : `${echo.state}\n`);
        return;
      }
      case '/stats': {
        res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(echo.stats)}\n`);
        return;
      }
      default:
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz, /readyz or /stats\n');
    }
  }
}
