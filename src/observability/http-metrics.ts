/**
 * The HTTP and WebSocket series (echod_http_*, echod_websocket_*), read from the counts the
 * server's HttpMonitor keeps (`server.http`): nothing here runs per request but the duration
 * histogram. Every label has a fixed set of values: methods outside a known list are
 * `OTHER`, statuses are counted by class, refusals by their stable reason.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import { CODE_CLASSES, HTTP_ERROR_REASONS, type HttpMonitor, METHOD_LABELS } from '../http/monitor.js';

/** An echo answers in well under a millisecond on loopback; `?delay=` and large bodies take seconds. */
const REQUEST_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * Registers the series in `registry`. The counters are read from `monitor`'s counts when
 * scraped (the monitor counts in plain numbers on the request path); the duration histogram
 * is observed per request.
 */
export function registerHttpMetrics(registry: Registry, monitor: HttpMonitor): void {
  const registers = [registry];
  new Counter({
    name: 'echod_http_requests_total',
    help: 'HTTP requests answered (refused ones with their 4xx included), by method (OTHER beyond the standard ones) and status class.',
    labelNames: ['method', 'code_class'],
    registers,
    collect() {
      this.reset();
      // Only the pairs seen: label values stay those that happened.
      for (const method of METHOD_LABELS)
        for (const code_class of CODE_CLASSES) {
          const count = monitor.answeredCount(method, code_class);
          if (count > 0) this.inc({ method, code_class }, count);
        }
    },
  });
  new Counter({
    name: 'echod_http_request_bytes_total',
    help: 'HTTP request body bytes received in answered requests.',
    registers,
    collect() {
      this.reset();
      this.inc(monitor.requestBytes);
    },
  });
  new Counter({
    name: 'echod_http_response_bytes_total',
    help: 'HTTP response body bytes sent.',
    registers,
    collect() {
      this.reset();
      this.inc(monitor.responseBytes);
    },
  });
  const duration = new Histogram({
    name: 'echod_http_request_duration_seconds',
    help: 'From a request head received to its response handed to the socket (a ?delay= included).',
    buckets: REQUEST_BUCKETS_SECONDS,
    registers,
  });
  const previous = monitor.observeDuration;
  monitor.observeDuration = (seconds) => {
    previous(seconds);
    duration.observe(seconds);
  };
  // Every reason and direction shows from the start (at 0), so alerts need no absent().
  new Counter({
    name: 'echod_http_refusals_total',
    help: `HTTP requests and WebSocket messages refused or cut off, by reason (${HTTP_ERROR_REASONS.join(', ')}).`,
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const reason of HTTP_ERROR_REASONS) this.inc({ reason }, monitor.refusals[reason]);
    },
  });
  new Counter({
    name: 'echod_websocket_connections_total',
    help: 'WebSocket upgrades accepted.',
    registers,
    collect() {
      this.reset();
      this.inc(monitor.wsConnections);
    },
  });
  new Counter({
    name: 'echod_websocket_messages_total',
    help: 'WebSocket messages received (in) and echoed (out).',
    labelNames: ['direction'],
    registers,
    collect() {
      this.reset();
      this.inc({ direction: 'in' }, monitor.wsMessagesIn);
      this.inc({ direction: 'out' }, monitor.wsMessagesOut);
    },
  });
}
