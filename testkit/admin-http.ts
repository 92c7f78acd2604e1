// The admin endpoint as tests use it: an echo server with its metrics and an AdminServer in
// front, both on 127.0.0.1 port 0, and a plain HTTP client for it. Every wait is bounded.
import { type IncomingHttpHeaders, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { AdminServer } from '../src/observability/admin.js';
import type { AdminLimitOptions } from '../src/observability/admin-limits.js';
import { silentLogger } from '../src/core/log.js';
import { createMetrics, type MetricsOptions } from '../src/observability/metrics.js';
import type { EchoServerOptions } from '../src/config/options.js';
import { Fixture, HOST, WAIT_MS } from './clients.js';
import { within } from './wait.js';

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RequestOptions {
  /** @default 'GET' */
  method?: string;
  body?: string;
}

/** One request on a fresh connection (no agent, no keep-alive); resolves once the body has ended. */
export function request(port: number, path: string, options: RequestOptions = {}): Promise<HttpResponse> {
  const method = options.method ?? 'GET';
  const response = new Promise<HttpResponse>((resolve, reject) => {
    const req = httpRequest({ host: HOST, port, path, method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
  return within(response, WAIT_MS, `${method} ${path} on port ${port}`);
}

/** An echo server (see {@link Fixture}) with createMetrics() and an AdminServer listening. */
export class AdminFixture {
  readonly echo: Fixture;
  readonly registry: Registry;
  readonly admin: AdminServer;
  readonly adminAddress: AddressInfo;

  private constructor(echo: Fixture, registry: Registry, admin: AdminServer, adminAddress: AddressInfo) {
    this.echo = echo;
    this.registry = registry;
    this.admin = admin;
    this.adminAddress = adminAddress;
  }

  /** `limits`: the admin endpoint's own bounds (AdminServer options). */
  static async start(options: EchoServerOptions = {}, metrics: MetricsOptions = {}, limits: AdminLimitOptions = {}): Promise<AdminFixture> {
    const echo = await Fixture.start(options);
    const registry = createMetrics(echo.server, metrics);
    const admin = new AdminServer({ echo: echo.server, registry, logger: silentLogger, ...limits });
    try {
      return new AdminFixture(echo, registry, admin, await admin.listen());
    } catch (err) {
      await echo.cleanup();
      throw err;
    }
  }

  get adminPort(): number {
    return this.adminAddress.port;
  }

  get(path: string, options: RequestOptions = {}): Promise<HttpResponse> {
    return request(this.adminPort, path, options);
  }

  /** Closes the echo server (clients destroyed first), then the admin endpoint. Safe to repeat. */
  async cleanup(): Promise<void> {
    try {
      await this.echo.cleanup();
    } finally {
      await within(this.admin.close(), WAIT_MS, 'admin.close() in cleanup');
    }
  }
}
