// HTTP echo over real loopback sockets with real clients: curl (HTTP/1.1, HTTP/2 over TLS,
// keep-alive reuse, chunked upload, Expect: 100-continue), node's fetch and http.request (a GET
// with a chunked body; requests without one, answered at once). The JSON document,
// the raw echo, the controls and their bounds.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createEchoServer, type EchoServer } from '../../src/index.js';
import type { EchoDocument } from '../../src/http/document.js';
import { HOST } from '../../testkit/clients.js';
import { curl } from '../../testkit/curl.js';

describe('http echo', () => {
  let server: EchoServer;
  let http: string;
  let https: string;

  before(async () => {
    server = createEchoServer({
      serverId: 'echo-test-1',
      listeners: [
        { protocol: 'http', host: HOST, port: 0 },
        { protocol: 'https', host: HOST, port: 0 },
      ],
      tls: { selfSigned: true },
      http: { maxDelayMs: 500, maxResponseBytes: 1024 * 1024 },
    });
    await server.listen();
    const [plain, secure] = server.addresses as { port: number }[];
    http = `http://${HOST}:${plain?.port}`;
    https = `https://${HOST}:${secure?.port}`;
  });
  after(() => server.close());

  it('answers a JSON document of the request over HTTP/1.1 (curl)', async () => {
    const { status, headers, body } = await curl([
      '-H',
      'X-Dup: 1',
      '-H',
      'x-dup: 2',
      '--data-binary',
      'héllo',
      `${http}/some/path?a=1&a=2&b=x`,
    ]);
    assert.equal(status, 200);
    assert.match(headers, /^x-echod-server: echo-test-1\r$/im);
    const doc = JSON.parse(body) as EchoDocument;
    assert.equal(doc.method, 'POST');
    assert.equal(doc.path, '/some/path');
    assert.deepEqual(doc.query, { a: ['1', '2'], b: 'x' });
    assert.equal(doc.httpVersion, '1.1');
    assert.deepEqual(
      doc.headers.filter(([name]) => name.toLowerCase() === 'x-dup'),
      [
        ['X-Dup', '1'],
        ['x-dup', '2'],
      ],
    );
    assert.deepEqual(doc.body, { size: Buffer.byteLength('héllo'), encoding: 'utf8', data: 'héllo' });
    assert.equal(doc.client.address, HOST);
    assert.equal(doc.server.id, 'echo-test-1');
    assert.equal(doc.listener, http.replace('http://', 'http://'));
    assert.equal(doc.connection.request, 1);
    assert.equal(doc.tls, null);
    assert.ok(!Number.isNaN(Date.parse(doc.receivedAt)));
  });

  it('shows keep-alive reuse: requests 1 and 2 on one connection', async () => {
    const { body } = await curl([`${http}/a`, '--next', `${http}/b`]);
    const docs = body
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as EchoDocument);
    assert.deepEqual(
      docs.map((doc) => doc.connection.request),
      [1, 2],
    );
    assert.equal(docs[0]?.connection.id, docs[1]?.connection.id);
  });

  it('base64-encodes a body that is not UTF-8', async () => {
    const bytes = Buffer.from([0xff, 0x00, 0xfe, 0x41]);
    const { body } = await curl(['--data-binary', '@-', `${http}/`], bytes);
    assert.deepEqual((JSON.parse(body) as EchoDocument).body, { size: 4, encoding: 'base64', data: bytes.toString('base64') });
  });

  it('echoes the body byte-exact with ?format=raw and on /echo, content type kept (chunked upload, Expect: 100-continue)', async () => {
    const bytes = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 256));
    const res = await fetch(`${http}/echo`, { method: 'POST', body: bytes, headers: { 'content-type': 'application/x-test' } });
    assert.equal(res.headers.get('content-type'), 'application/x-test');
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
    const chunked = await curl(
      ['-H', 'Transfer-Encoding: chunked', '-H', 'Expect: 100-continue', '--data-binary', '@-', `${http}/x?format=raw`],
      Buffer.from('chunked body\n'),
    );
    assert.match(chunked.headers, /^HTTP\/1.1 100 Continue/m);
    assert.equal(chunked.status, 200);
    assert.equal(chunked.body, 'chunked body\n');
  });

  it('speaks HTTP/2 by ALPN on https, with the TLS details in the document (curl --http2)', async () => {
    const { status, body } = await curl(['-k', '--http2', '--data-binary', 'h2', `${https}/h2?x=1`]);
    assert.equal(status, 200);
    const doc = JSON.parse(body) as EchoDocument;
    assert.equal(doc.httpVersion, '2.0');
    assert.equal(doc.tls?.alpn, 'h2');
    assert.match(doc.tls?.version ?? '', /^TLSv1\.[23]$/);
    assert.ok((doc.tls?.cipher ?? '') !== '');
    assert.equal(doc.tls?.clientCert, null);
    assert.equal(doc.body.data, 'h2');
    const h1 = JSON.parse(
      (await curl(['-k', '--http1.1', `${https}/`, '--next', '-k', '--http1.1', `${https}/`])).body.split('\n')[1] ?? '',
    ) as EchoDocument;
    assert.equal(h1.tls?.alpn, 'http/1.1');
    assert.equal(h1.connection.request, 2);
    const two = (await curl(['-k', '--http2', `${https}/1`, '--next', '-k', '--http2', `${https}/2`])).body
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as EchoDocument);
    assert.deepEqual(
      two.map((doc) => doc.connection.request),
      [1, 2],
    );
  });

  it('honours the controls: status, headers, bytes, delay, close', async () => {
    const res = await curl(['-H', 'x-echo-status: 418', `${http}/?header=X-One:1&header=x-two:%20two`]);
    assert.equal(res.status, 418);
    assert.match(res.headers, /^x-one: 1\r$/im);
    assert.match(res.headers, /^x-two: two\r$/im);
    const bytes = await fetch(`${http}/?bytes=200000`);
    const body = Buffer.from(await bytes.arrayBuffer());
    assert.equal(body.length, 200_000);
    assert.ok(body.every((byte) => byte === 0x78));
    const started = performance.now();
    assert.equal((await fetch(`${http}/?delay=200ms`)).status, 200);
    assert.ok(performance.now() - started >= 195);
    const closing = await curl([`${http}/?close=1`]);
    assert.match(closing.headers, /^connection: close\r$/im);
    const h2 = await curl(['-k', '--http2', `${https}/?status=503&bytes=10`]);
    assert.equal(h2.status, 503);
    assert.equal(h2.body, 'xxxxxxxxxx');
  });

  it('reads the body of a GET sent chunked, and answers requests without one, HEAD and Content-Length: 0 alike', async () => {
    const ask = (method: string, body: string | null, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> =>
      new Promise((resolve, reject) => {
        const req = request(`${http}/b`, { method, headers }, (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        });
        req.on('error', reject);
        if (body !== null) req.write(body);
        req.end();
      });
    // node's client sends a GET's body chunked only when told to.
    const chunked = await ask('GET', 'abc', { 'transfer-encoding': 'chunked' });
    assert.equal((JSON.parse(chunked.text) as EchoDocument).body.data, 'abc');
    const none = await ask('GET', null);
    assert.deepEqual((JSON.parse(none.text) as EchoDocument).body, { size: 0, encoding: 'utf8', data: '' });
    const zero = await ask('POST', null, { 'content-length': '0' });
    assert.equal((JSON.parse(zero.text) as EchoDocument).body.size, 0);
    const head = await ask('HEAD', null);
    assert.deepEqual([head.status, head.text], [200, '']);
  });

  it('refuses a control out of bounds with 400 naming it, and counts it', async () => {
    const refusals: string[] = [];
    server.http.on('refusal', (reason) => refusals.push(reason));
    for (const query of ['delay=5s', 'bytes=99999999', 'status=99', 'header=connection:close', 'format=xml']) {
      const res = await fetch(`${http}/?${query}`);
      assert.equal(res.status, 400, query);
      assert.equal(((await res.json()) as { reason: string }).reason, 'bad_control');
    }
    assert.deepEqual(refusals, Array(5).fill('bad_control'));
  });
});

describe('http echo with controls off', () => {
  it('ignores the controls but keeps the format', async () => {
    const server = createEchoServer({ listeners: [{ protocol: 'http', host: HOST, port: 0 }], http: { controls: false } });
    await server.listen();
    try {
      const base = `http://${HOST}:${server.address?.port}`;
      const res = await fetch(`${base}/?status=500&delay=99s&bytes=5`, { headers: { 'x-echo-status': '404' } });
      assert.equal(res.status, 200);
      assert.deepEqual(((await res.json()) as EchoDocument).query, { status: '500', delay: '99s', bytes: '5' });
      const raw = await fetch(`${base}/echo`, { method: 'POST', body: 'as is' });
      assert.equal(await raw.text(), 'as is');
    } finally {
      await server.close();
    }
  });
});
