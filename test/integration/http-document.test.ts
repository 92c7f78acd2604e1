// The JSON document's text as the transport builds it (echoDocumentJson, without intermediate
// objects) is exactly JSON.stringify of the reference object (echoDocument), and the byte
// length it reports is that text's in UTF-8, for requests with and without query (read by
// target.ts's own splitter or by URLSearchParams), headers that need escaping, non-ASCII and
// surrogates, text and binary bodies, PROXY and TLS details;
// and, on a real http listener, a body that stops arriving is ended by node:http's request
// timeout (the listener arms no timer of its own per request): 408, request_timeout.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { createEchoServer } from '../../src/index.js';
import { echoDocument, echoDocumentJson, type RequestFacts, splitTarget } from '../../src/http/document.js';
import { CONTROL_NAMES } from '../../src/http/controls.js';
import { queryHasAny } from '../../src/http/target.js';
import { HOST, WAIT_MS } from '../../testkit/clients.js';
import { within } from '../../testkit/wait.js';

const BASE: RequestFacts = {
  method: 'GET',
  url: '/',
  httpVersion: '1.1',
  rawHeaders: ['Host', 'a.example'],
  body: Buffer.alloc(0),
  client: { address: '127.0.0.1', port: 40000 },
  proxy: null,
  tls: null,
  server: { id: 'id-1', hostname: 'host' },
  listener: 'http://127.0.0.1:8081',
  connection: { id: 7, request: 3 },
  receivedAt: Date.UTC(2026, 11, 7, 21, 0, 0, 123),
};

const CASES: [string, Partial<RequestFacts>][] = [
  ['a bare GET', {}],
  ['a query with repeats, escapes and an empty value', { url: '/p%20q?a=1&a=2&b=%22x%22&c=&d=%E2%9C%93' }],
  ['a trailing ? and an absolute-form target', { url: 'http://proxy.example:81/abs?' }],
  ['a plain query: empty pairs, no =, repeats, a second ? and integer names', { url: '/q??a=1&&b&a=2&=v&9=x&c=d=e&' }],
  ['a query with + and a parameter named __proto__', { url: '/q?__proto__=1&a+b=c+d&__proto__=2' }],
  ['a query with non-ASCII text and escapes that do not decode', { url: '/q?é=ÿ&bad=%zz&cut=%e2%9c' }],
  ['a non-ASCII server, listener and client certificate', { server: { id: 'sérveur-✓', hostname: 'hôte' } }],
  ['headers needing escapes, repeats kept', { rawHeaders: ['X-Q', 'say "hi"\\', 'x-q', 'two', 'X-Ctl', '\u0001\u007f', 'X-Ü', 'ünï'] }],
  [
    'a lone surrogate and non-ASCII text in the method, path and headers',
    { method: 'GÉT', url: '/ü\ud800?q=\udfff', rawHeaders: ['X-S', 'a\ud800b', 'X-Ok', 'ÿ plain'] },
  ],
  ['a UTF-8 body', { method: 'POST', body: Buffer.from('héllo\n"world"\t✓') }],
  ['a binary body', { method: 'PUT', body: Buffer.from([0xff, 0x00, 0xc3, 0x28]) }],
  ['HTTP/2 pseudo-headers', { httpVersion: '2.0', rawHeaders: [':method', 'GET', ':path', '/', ':authority', 'x'] }],
  [
    'PROXY and TLS details',
    {
      proxy: {
        version: 2,
        command: 'PROXY',
        transport: 'TCP6',
        source: { address: '2001:db8::1', port: 1 },
        destination: { address: '2001:db8::2', port: 443 },
        tlvs: { authority: 'a', uniqueId: 'hex:00ff', ssl: { client: 1, verify: 0, version: 'TLSv1.3' } },
        via: { address: '127.0.0.1', port: 5 },
      },
      tls: {
        version: 'TLSv1.3',
        cipher: 'TLS_AES_128_GCM_SHA256',
        sni: null,
        alpn: 'h2',
        clientCert: { subject: 'CN=a', issuer: 'CN=ca', fingerprint256: 'AA:BB', authorized: true },
      },
    },
  ],
  ['a Date as receivedAt', { receivedAt: new Date(Date.UTC(2020, 0, 1)) }],
];

describe('the echo document as sent', () => {
  for (const [name, change] of CASES) {
    it(`${name}: the built text is JSON.stringify of the document`, () => {
      const facts = { ...BASE, ...change };
      const expected = `${JSON.stringify(echoDocument(facts))}\n`;
      for (const built of [echoDocumentJson(facts), echoDocumentJson({ ...facts, target: splitTarget(facts.url) })]) {
        assert.equal(built.text, expected);
        assert.equal(built.bytes, Buffer.byteLength(expected));
      }
    });
  }

  it('the time is that of each request, also for two within one millisecond and the next', () => {
    const at = Date.UTC(2026, 0, 2, 3, 4, 5, 6);
    for (const ms of [at, at, at + 1, at])
      assert.match(echoDocumentJson({ ...BASE, receivedAt: ms }).text, new RegExp(`"receivedAt":"${new Date(ms).toISOString()}"`));
  });
});

describe('a query that names a control', () => {
  it('is told apart by the names URLSearchParams decodes, however written', () => {
    for (const query of ['status=201', 'x=1&status', '?delay=1', '%73tatus=201', 'a=1&&header=x:y', 'x=%20&close=1'])
      assert.equal(queryHasAny(query, CONTROL_NAMES), true, query);
    for (const query of ['', '?', 'x=1', 'statusx=1', '+status=1', 'a=status', 'x=%20', 's%74atus2=1'])
      assert.equal(queryHasAny(query, CONTROL_NAMES), false, query);
  });
});

describe('a slow body on an http listener', () => {
  it("is answered 408 by node:http's request timeout and counted as request_timeout", { timeout: 15_000 }, async (t) => {
    const server = createEchoServer({
      listeners: [{ protocol: 'http', host: HOST, port: 0 }],
      http: { headersTimeoutMs: 200, requestTimeoutMs: 400 },
    });
    const refusals: string[] = [];
    server.http.on('refusal', (reason) => refusals.push(reason));
    await server.listen();
    t.after(() => server.close());
    const socket = connect((server.addresses[0] as AddressInfo).port, HOST);
    t.after(() => socket.destroy());
    await once(socket, 'connect');
    socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part of it');
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    await within(new Promise((resolve) => socket.once('close', resolve)), WAIT_MS, 'the slow request to be closed');
    assert.match(received, /^HTTP\/1.1 408 /);
    assert.deepEqual(refusals, ['request_timeout']);
  });
});
