/**
 * The HTTP and WebSocket series (echod_http_*, echod_websocket_*), counted from the events the
 * server's HttpMonitor emits (`server.http`): nothing here runs unless an http or https
 * listener answers. Every label has a fixed set of values: methods outside a known list are
 * `OTHER`, statuses are counted by class, refusals by their stable reason.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import { HTTP_ERROR_REASONS, type HttpMonitor, methodLabel } from '../http/monitor.js';

/** An echo answers in well under a millisecond on loopback; `?delay=` and large bodies take seconds. */
const REQUEST_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** `2xx` for 200–299, and so on; anything outside 100–599 (none is sent) is `other`. */
export function codeClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other';
}

/** Registers the series in `registry` and counts `monitor`'s events into them. */
export function registerHttpMetrics(registry: Registry, monitor: HttpMonitor): void {
  const registers = [registry];
  const requests = new Counter({
    name: 'echod_http_requests_total',
    help: 'HTTP requests answered (refused ones with their 4xx included), by method (OTHER beyond the standard ones) and status class.',
    labelNames: ['method', 'code_class'],
    registers,
  });
  const requestBytes = new Counter({
    name: 'echod_http_request_bytes_total',
    help: 'HTTP request body bytes received in answered requests.',
    registers,
  });
  const responseBytes = new Counter({ name: 'echod_http_response_bytes_total', help: 'HTTP response body bytes sent.', registers });
  const duration = new Histogram({
    name: 'echod_http_request_duration_seconds',
    help: 'From a request head received to its response handed to the socket (a ?delay= included).',
    buckets: REQUEST_BUCKETS_SECONDS,
    registers,
  });
  const refusals = new Counter({
    name: 'echod_http_refusals_total',
    help: `HTTP requests and WebSocket messages refused or cut off, by reason (${HTTP_ERROR_REASONS.join(', ')}).`,
    labelNames: ['reason'],
    registers,
  });
  const wsConnections = new Counter({ name: 'echod_websocket_connections_total', help: 'WebSocket upgrades accepted.', registers });
  const wsMessages = new Counter({
    name: 'echod_websocket_messages_total',
    help: 'WebSocket messages received (in) and echoed (out).',
    labelNames: ['direction'],
    registers,
  });
  // Every reason and direction shows from the start (at 0), so alerts need no absent().
  for (const reason of HTTP_ERROR_REASONS) refusals.inc({ reason }, 0);
  for (const direction of ['in', 'out']) wsMessages.inc({ direction }, 0);

  monitor.on('request', (record) => {
    requests.inc({ method: methodLabel(record.method), code_class: codeClass(record.status) });
    requestBytes.inc(record.bytesIn);
    responseBytes.inc(record.bytesOut);
    duration.observe(record.durationMs / 1000);
  });
  monitor.on('refusal', (reason) => refusals.inc({ reason }));
  monitor.on('wsOpen', () => wsConnections.inc());
  monitor.on('wsMessage', () => wsMessages.inc({ direction: 'in' }));
  monitor.on('wsEchoed', () => wsMessages.inc({ direction: 'out' }));
}
