// The HTTP and WebSocket series: known traffic against an http listener, then /metrics read
// through the server's registry, every count exact (method labels bounded, status by class,
// refusals by reason, WebSocket messages each way).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { createEchoServer, createMetrics, type EchoServer } from '../../src/index.js';
import { parsePrometheus } from '../../testkit/prometheus.js';
import { metric } from '../../testkit/echod-process.js';
import type { Registry } from 'prom-client';
import { HOST } from '../../testkit/clients.js';

describe('http metrics', () => {
  let server: EchoServer;
  let registry: Registry;
  let base: string;

  before(async () => {
    server = createEchoServer({ listeners: [{ protocol: 'http', host: HOST, port: 0 }], http: { maxBodyBytes: 100 } });
    registry = createMetrics(server, { processMetrics: false });
    await server.listen();
    base = `http://${HOST}:${server.address?.port ?? 0}`;
  });
  after(() => server.close());

  it('counts requests by method and class, bytes, durations, refusals and WebSocket messages exactly', async () => {
    const before = parsePrometheus(await registry.metrics());
    assert.equal(metric(before, 'echod_http_refusals_total', { reason: 'body_too_large' }), 0, 'every reason shows from the start');
    assert.equal(metric(before, 'echod_websocket_messages_total', { direction: 'in' }), 0);

    // 2 GET (one 503 by control), 1 POST of 5 bytes echoed raw, 1 PURGE (OTHER), 1 POST over the body bound (413).
    assert.equal((await fetch(`${base}/a`)).status, 200);
    assert.equal((await fetch(`${base}/a?status=503`)).status, 503);
    const raw = await fetch(`${base}/echo`, { method: 'POST', body: 'hello' });
    assert.equal(await raw.text(), 'hello');
    assert.equal((await fetch(`${base}/`, { method: 'PURGE' })).status, 200);
    assert.equal((await fetch(`${base}/`, { method: 'POST', body: 'x'.repeat(101) })).status, 413);
    // A request node:http cannot parse: a refusal, not an answered request.
    const bad = connect(server.address?.port ?? 0, HOST);
    bad.on('error', () => {});
    bad.end('NOT HTTP\r\n\r\n');
    bad.resume();
    await once(bad, 'close');

    const ws = new WebSocket(`ws://${HOST}:${server.address?.port ?? 0}/`);
    await once(ws, 'open');
    for (const text of ['one', 'two', 'three']) {
      ws.send(text);
      const [data] = (await once(ws, 'message')) as [Buffer];
      assert.equal(data.toString(), text);
    }
    ws.close();
    await once(ws, 'close');

    const scrape = parsePrometheus(await registry.metrics());
    assert.equal(metric(scrape, 'echod_http_requests_total', { method: 'GET', code_class: '2xx' }), 1);
    assert.equal(metric(scrape, 'echod_http_requests_total', { method: 'GET', code_class: '5xx' }), 1);
    assert.equal(metric(scrape, 'echod_http_requests_total', { method: 'POST', code_class: '2xx' }), 1);
    assert.equal(metric(scrape, 'echod_http_requests_total', { method: 'POST', code_class: '4xx' }), 1);
    assert.equal(metric(scrape, 'echod_http_requests_total', { method: 'OTHER', code_class: '2xx' }), 1);
    assert.equal(scrape.all('echod_http_requests_total').length, 5, 'no other method or class label');
    assert.equal(metric(scrape, 'echod_http_request_bytes_total'), 5, 'the refused body is not counted as received');
    const responseBytes = metric(scrape, 'echod_http_response_bytes_total');
    assert.ok(responseBytes > 5, `response bytes ${responseBytes}`);
    assert.equal(metric(scrape, 'echod_http_request_duration_seconds_count'), 5);
    assert.equal(metric(scrape, 'echod_http_request_duration_seconds_bucket', { le: '+Inf' }), 5);
    assert.equal(metric(scrape, 'echod_http_refusals_total', { reason: 'body_too_large' }), 1);
    assert.equal(metric(scrape, 'echod_http_refusals_total', { reason: 'bad_request' }), 1);
    assert.equal(metric(scrape, 'echod_http_refusals_total', { reason: 'bad_control' }), 0);
    assert.equal(metric(scrape, 'echod_websocket_connections_total'), 1);
    assert.equal(metric(scrape, 'echod_websocket_messages_total', { direction: 'in' }), 3);
    assert.equal(metric(scrape, 'echod_websocket_messages_total', { direction: 'out' }), 3);
  });
});
