// The HTTP and WebSocket series: known traffic against an http listener, then /metrics read
// through the server's registry, every count exact (method labels bounded, status by class,
// refusals by reason, WebSocket messages each way). And https listeners feed the TLS series
// as tls ones do: handshakes by version and listener, timed; failed ones refused as tls_error.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { connect as connectHttp2 } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { createEchoServer, createMetrics, type EchoServer } from '../../src/index.js';
import { parsePrometheus } from '../../testkit/prometheus.js';
import { metric } from '../../testkit/echod-process.js';
import type { Registry } from 'prom-client';
import { Client, HOST } from '../../testkit/clients.js';

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

describe('https metrics', () => {
  let server: EchoServer;
  let registry: Registry;
  let https = '';
  let http = '';
  let port = 0;

  before(async () => {
    server = createEchoServer({
      listeners: [
        { protocol: 'https', host: HOST, port: 0 },
        { protocol: 'http', host: HOST, port: 0 },
      ],
      tls: { selfSigned: true },
    });
    registry = createMetrics(server, { processMetrics: false });
    await server.listen();
    const [secure, plain] = server.addresses;
    assert.ok(secure !== undefined && 'port' in secure && plain !== undefined && 'port' in plain);
    port = secure.port;
    https = `https://${HOST}:${port}`;
    http = `http://${HOST}:${plain.port}`;
  });
  after(() => server.close());

  /** One HTTP/1.1 request over a connection of its own (no agent), TLS 1.2 or 1.3. */
  async function get(maxVersion: 'TLSv1.2' | 'TLSv1.3'): Promise<void> {
    const req = httpsRequest(`${https}/`, { agent: false, rejectUnauthorized: false, maxVersion });
    req.end();
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    assert.equal(res.statusCode, 200);
    res.resume();
    await once(res, 'end');
  }

  it('counts each https handshake by version and times it, on the https listener only; a failed one is tls_error there', async () => {
    const closes: string[] = [];
    server.on('connectionClose', (summary) => closes.push(summary.listener));
    const before = parsePrometheus(await registry.metrics());
    const onHttps = { listener: https };
    assert.equal(metric(before, 'echod_tls_handshakes_total', { ...onHttps, version: 'TLSv1.3' }), 0, 'shown from the start');
    assert.equal(metric(before, 'echod_tls_handshake_duration_seconds_count', onHttps), 0);

    // Two HTTP/1.1 connections (TLSv1.3 and TLSv1.2) and one HTTP/2 (TLSv1.3, by ALPN).
    await get('TLSv1.3');
    await get('TLSv1.2');
    const session = connectHttp2(https, { rejectUnauthorized: false });
    session.on('error', () => {});
    const stream = session.request({ ':path': '/' });
    stream.end();
    const [headers] = (await once(stream, 'response')) as [Record<string, unknown>];
    assert.equal(headers[':status'], 200);
    stream.resume();
    await once(stream, 'end');
    session.close();
    // Plain text to the https port: a failed handshake.
    const plain = await Client.connect(port);
    await plain.write('not a TLS client hello\r\n\r\n');
    await plain.waitClosed();
    // And a plain http request, which has no handshake to count.
    assert.equal((await fetch(`${http}/`)).status, 200);

    const scrape = parsePrometheus(await registry.metrics());
    assert.equal(metric(scrape, 'echod_tls_handshakes_total', { ...onHttps, version: 'TLSv1.3' }), 2);
    assert.equal(metric(scrape, 'echod_tls_handshakes_total', { ...onHttps, version: 'TLSv1.2' }), 1);
    assert.equal(scrape.all('echod_tls_handshakes_total').length, 2, 'no series for the http listener');
    assert.equal(metric(scrape, 'echod_tls_handshake_duration_seconds_count', onHttps), 3);
    const seconds = metric(scrape, 'echod_tls_handshake_duration_seconds_sum', onHttps);
    assert.ok(seconds > 0 && seconds < 3 * 10, `handshakes took ${seconds} s in all, each under the 10 s timeout`);
    assert.equal(metric(scrape, 'echod_connections_rejected_total', { ...onHttps, reason: 'tls_error' }), 1);
    assert.equal(metric(scrape, 'echod_connections_rejected_total', { listener: http, reason: 'tls_error' }), 0);
    // Served connections' durations, on the listener that served them, once they closed.
    const served = closes.filter((listener) => listener === https).length;
    assert.equal(metric(scrape, 'echod_connection_duration_seconds_count', onHttps), served);
  });
});
