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

/** The admin endpoint's own series at one moment: connections open, closes by reason, responses by status code. */
export interface AdminCounts {
  active: number;
  closed: Record<string, number>;
  requests: Record<string, number>;
}

/** How much each series grew from `before` to `after` (series that did not move are left out). */
export function countsDelta(before: AdminCounts, after: AdminCounts): { closed: Record<string, number>; requests: Record<string, number> } {
  const grew = (from: Record<string, number>, to: Record<string, number>): Record<string, number> => {
    const delta: Record<string, number> = {};
    for (const [key, value] of Object.entries(to)) if (value !== (from[key] ?? 0)) delta[key] = value - (from[key] ?? 0);
    return delta;
  };
  return { closed: grew(before.closed, after.closed), requests: grew(before.requests, after.requests) };
}

/** One HTTP/1.1 response as it came off the wire. */
export interface RawResponse {
  status: number;
  /** Header names in lower case. */
  headers: ReadonlyMap<string, string>;
  body: Buffer;
  /** Bytes of the status line and headers, blank line included. */
  headBytes: number;
}

const STATUS_LINE = /^HTTP\/1\.1 ([1-5]\d\d) [\x20-\x7e]*$/;
const RESPONSE_HEADER = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+): ([\x20-\x7e]*)$/;
const CRLF2 = Buffer.from('\r\n\r\n');

/**
 * Splits what a server sent on one connection into HTTP/1.1 responses, checking each is well
 * formed: a status line, token headers with printable values (none repeated), a
 * Content-Length and exactly that many body bytes (none when `bodyless(i)` says the i-th
 * answers a HEAD), and nothing after a `connection: close` one. Throws naming what is wrong.
 */
export function parseResponses(bytes: Buffer, bodyless: (index: number) => boolean = () => false): RawResponse[] {
  const responses: RawResponse[] = [];
  let at = 0;
  while (at < bytes.length) {
    const where = `response ${responses.length} (byte ${at})`;
    const end = bytes.indexOf(CRLF2, at);
    if (end < 0) throw new Error(`${where}: head not terminated: ${JSON.stringify(bytes.subarray(at, at + 80).toString('latin1'))}`);
    const [statusLine = '', ...lines] = bytes.subarray(at, end).toString('latin1').split('\r\n');
    const status = STATUS_LINE.exec(statusLine);
    if (status === null) throw new Error(`${where}: bad status line ${JSON.stringify(statusLine.slice(0, 80))}`);
    const headers = new Map<string, string>();
    for (const line of lines) {
      const header = RESPONSE_HEADER.exec(line);
      if (header === null) throw new Error(`${where}: bad header line ${JSON.stringify(line.slice(0, 80))}`);
      const name = (header[1] as string).toLowerCase();
      if (headers.has(name)) throw new Error(`${where}: header ${name} repeated`);
      headers.set(name, header[2] as string);
    }
    const length = headers.get('content-length');
    if (length === undefined || !/^\d{1,9}$/.test(length)) throw new Error(`${where}: content-length ${String(length)}`);
    const headBytes = end + CRLF2.length - at;
    const bodyBytes = bodyless(responses.length) ? 0 : Number(length);
    if (end + CRLF2.length + bodyBytes > bytes.length) throw new Error(`${where}: body cut short (${bodyBytes} bytes announced)`);
    const body = bytes.subarray(end + CRLF2.length, end + CRLF2.length + bodyBytes);
    responses.push({ status: Number(status[1]), headers, body, headBytes });
    at = end + CRLF2.length + bodyBytes;
    if (headers.get('connection') === 'close' && at < bytes.length)
      throw new Error(`${where}: ${bytes.length - at} bytes after connection: close`);
  }
  return responses;
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

  /** The admin endpoint's own series, read from the registry (no request of its own to count). */
  async counts(): Promise<AdminCounts> {
    const read = async (name: string, label: string): Promise<Record<string, number>> => {
      const metric = this.registry.getSingleMetric(name);
      if (metric === undefined) throw new Error(`${name} is not in the registry`);
      const values: Record<string, number> = {};
      for (const { labels, value } of (await metric.get()).values) values[String(labels[label] ?? '')] = value;
      return values;
    };
    const active = await read('echod_admin_connections_active', '');
    return {
      active: active[''] ?? 0,
      closed: await read('echod_admin_connections_closed_total', 'reason'),
      requests: await read('echod_admin_requests_total', 'code'),
    };
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
