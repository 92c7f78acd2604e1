// HTTP/2 with prior knowledge (h2c) on http:// listeners, over real loopback sockets: a client
// that opens with the HTTP/2 preface is served HTTP/2 on the port HTTP/1.1 clients use, by the
// same request handler and within the same bounds (streams, rapid reset, GOAWAY on drain);
// behind a PROXY header too. The first bytes decide, and only they: a POST's 'P' is not a preface.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { type ClientHttp2Session, connect as connectHttp2, constants as h2 } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Registry } from 'prom-client';
import { createEchoServer, createMetrics, type EchoServer, type EchoServerOptions } from '../../src/index.js';
import type { EchoDocument } from '../../src/http/document.js';
import { prefaceVerdict } from '../../src/transports/http.js';
import { HOST } from '../../testkit/clients.js';
import { drainDuringRequest, floodResets } from '../../testkit/h2.js';
import { curl } from '../../testkit/curl.js';
import { metric } from '../../testkit/echod-process.js';
import { parsePrometheus } from '../../testkit/prometheus.js';
import { addresses, FAMILY, v2 } from '../../testkit/proxy-headers.js';
import { RecordingLogger } from '../../testkit/recording-logger.js';
import { poll, within } from '../../testkit/wait.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** An empty SETTINGS frame: what a client sends right after the preface. */
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, 0x04, 0, 0, 0, 0, 0]);

async function started(options: EchoServerOptions): Promise<{ server: EchoServer; url: string; port: number }> {
  const server = createEchoServer(options);
  await server.listen();
  const port = server.address?.port ?? 0;
  return { server, url: `http://${HOST}:${port}`, port };
}

/** An h2c session with prior knowledge (node:http2 speaks h2c to an http:// URL). */
function h2c(url: string, socket?: Socket): ClientHttp2Session {
  const session = connectHttp2(url, socket === undefined ? {} : { createConnection: () => socket });
  session.on('error', () => {});
  return session;
}

/** One request on `session`; resolves with its status, headers and body. */
async function h2request(
  session: ClientHttp2Session,
  path: string,
  body?: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const req = session.request({ ':path': path, ':method': body === undefined ? 'GET' : 'POST' });
  req.end(body);
  const [headers] = (await once(req, 'response')) as [Record<string, unknown>];
  let text = '';
  req.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  await once(req, 'end');
  return { status: Number(headers[':status']), headers, body: text };
}

/** An HTTP/1.1 request with node:http; resolves with its status and body. */
async function h1request(port: number, path: string, body?: string): Promise<{ status: number; version: string; body: string }> {
  const req = httpRequest({ host: HOST, port, path, method: body === undefined ? 'GET' : 'POST', agent: false });
  req.end(body);
  const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
  let text = '';
  res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  await once(res, 'end');
  return { status: res.statusCode ?? 0, version: res.httpVersion, body: text };
}

/** Everything a raw socket receives until it closes. */
function collect(socket: Socket): Promise<string> {
  let text = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
  return once(socket, 'close').then(() => text);
}

describe('h2c: the preface decides', () => {
  it('every split of the preface is incomplete until whole; a differing byte is HTTP/1.1 at once', () => {
    for (let n = 0; n < PREFACE.length; n++) assert.equal(prefaceVerdict(PREFACE.subarray(0, n)), 'incomplete', `first ${n} bytes`);
    assert.equal(prefaceVerdict(PREFACE), 'h2');
    assert.equal(prefaceVerdict(Buffer.concat([PREFACE, EMPTY_SETTINGS])), 'h2');
    for (let n = 0; n < PREFACE.length; n++) {
      const wrong = Buffer.from(PREFACE.subarray(0, n + 1));
      wrong[n] = 0x78;
      assert.equal(prefaceVerdict(wrong), 'http1', `byte ${n} differs`);
    }
    for (const head of ['GET / HTTP/1.1\r\n', 'POST /', 'PUT /', 'PATCH /', 'PRI / HTTP/1.1\r\n'])
      assert.equal(prefaceVerdict(Buffer.from(head)), 'http1', head);
  });
});

describe('h2c on an http listener', () => {
  let server: EchoServer;
  let url: string;
  let port: number;
  let registry: Registry;
  const logger = new RecordingLogger();

  before(async () => {
    ({ server, url, port } = await started({
      serverId: 'h2c-test',
      listeners: [{ protocol: 'http', host: HOST, port: 0 }],
      http: { maxConcurrentStreams: 10, maxStreamResetsPerSecond: 50 },
      logger,
    }));
    registry = createMetrics(server, { processMetrics: false });
  });
  after(() => server.close());

  it('answers the JSON document over HTTP/2 (httpVersion 2.0, in the log line and /connections too)', async () => {
    const socket = connect(port, HOST);
    const session = h2c(url, socket);
    const { status, headers, body } = await h2request(session, '/some/path?a=1', 'héllo');
    assert.equal(status, 200);
    assert.equal(headers['x-echod-server'], 'h2c-test');
    const doc = JSON.parse(body) as EchoDocument;
    assert.equal(doc.httpVersion, '2.0');
    assert.equal(doc.method, 'POST');
    assert.equal(doc.path, '/some/path');
    assert.deepEqual(doc.body, { size: Buffer.byteLength('héllo'), encoding: 'utf8', data: 'héllo' });
    assert.equal(doc.client.address, HOST);
    assert.equal(doc.tls, null);
    assert.equal(doc.listener, url);
    const line = await logger.next('http request', (fields) => fields.path === '/some/path');
    assert.equal(line.fields.httpVersion, '2.0');
    const snapshot = server.connectionsSnapshot().find((connection) => connection.id === doc.connection.id);
    assert.equal(snapshot?.http?.protocol, 'h2');
    // A FIN without GOAWAY (as curl ends) ends the connection at the server too: HTTP/2 has no half-close.
    socket.end();
    await within(once(session, 'close'), 5000, 'the server closing its side');
    await poll(
      () => !server.connectionsSnapshot().some((connection) => connection.id === doc.connection.id),
      5000,
      'the connection closed',
    );
  });

  it('echoes a raw body on /echo', async () => {
    const session = h2c(url);
    const { status, body } = await h2request(session, '/echo', 'raw bytes\n');
    assert.equal(status, 200);
    assert.equal(body, 'raw bytes\n');
    session.close();
  });

  it('serves many streams on one connection within SETTINGS_MAX_CONCURRENT_STREAMS', async () => {
    const session = h2c(url);
    const [settings] = (await once(session, 'remoteSettings')) as [{ maxConcurrentStreams?: number }];
    assert.equal(settings.maxConcurrentStreams, 10);
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => h2request(session, `/s${i}`)));
    const docs = results.map((result) => JSON.parse(result.body) as EchoDocument);
    assert.ok(results.every((result) => result.status === 200));
    assert.equal(new Set(docs.map((doc) => doc.connection.id)).size, 1, 'one connection');
    assert.deepEqual(
      docs.map((doc) => doc.connection.request).sort((a, b) => a - b),
      Array.from({ length: 60 }, (_, i) => i + 1),
    );
    session.close();
  });

  it('still serves HTTP/1.1 on the same port, a POST whose first byte came alone included', async () => {
    const get = await h1request(port, '/h1');
    assert.equal(get.status, 200);
    assert.equal(get.version, '1.1');
    assert.equal((JSON.parse(get.body) as EchoDocument).httpVersion, '1.1');
    // 'P' could begin the preface: the sniff waits for the next byte, then hands both to node:http.
    const socket = connect(port, HOST);
    socket.setNoDelay(true);
    const received = collect(socket);
    await new Promise<void>((resolve) => socket.write('P', () => resolve()));
    socket.end('OST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello');
    const text = await received;
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.ok(text.endsWith('\r\n\r\nhello'), text);
  });

  it('answers an Upgrade: h2c request (curl --http2) over HTTP/1.1, its body included, then closes', async () => {
    const get = await curl(['--http2', `${url}/upgrade?x=1`]);
    assert.equal(get.status, 200);
    assert.match(get.headers, /^HTTP\/1\.1 200/m);
    assert.match(get.headers, /^Connection: close\r$/im);
    assert.equal((JSON.parse(get.body) as EchoDocument).httpVersion, '1.1');
    const post = await curl(['--http2', '--data-binary', 'upgrade body', `${url}/echo`]);
    assert.equal(post.body, 'upgrade body');
    // The body after the head, in a later segment.
    const socket = connect(port, HOST);
    const received = collect(socket);
    await new Promise<void>((resolve) =>
      socket.write('POST /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 5\r\n\r\n', () => resolve()),
    );
    socket.write('later');
    const text = await received;
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.ok(text.endsWith('\r\n\r\nlater'), text);
  });

  it('takes a preface that arrives in pieces', async () => {
    const socket = connect(port, HOST);
    socket.setNoDelay(true);
    socket.on('error', () => {});
    await once(socket, 'connect');
    const frames: Buffer[] = [];
    const settings = new Promise<Buffer>((resolve) =>
      socket.on('data', (chunk: Buffer) => {
        frames.push(chunk);
        const all = Buffer.concat(frames);
        if (all.length >= 9) resolve(all);
      }),
    );
    await new Promise<void>((resolve) => socket.write(PREFACE.subarray(0, 10), () => resolve()));
    socket.write(Buffer.concat([PREFACE.subarray(10), EMPTY_SETTINGS]));
    const first = await settings;
    assert.equal(first[3], 0x04, 'the server answers with its SETTINGS frame');
    socket.destroy();
  });

  it('closes a connection that resets streams past the bound with GOAWAY ENHANCE_YOUR_CALM, and counts it', async () => {
    const { sent, goawayCode } = await floodResets(h2c(url));
    assert.equal(goawayCode, h2.NGHTTP2_ENHANCE_YOUR_CALM, `GOAWAY ENHANCE_YOUR_CALM after ${sent} resets`);
    assert.ok(sent < 1000, `closed after ${sent} streams, before the loop's end`);
    const metrics = parsePrometheus(await registry.metrics());
    assert.equal(metric(metrics, 'echod_http_refusals_total', { reason: 'http2_rapid_reset' }), 1);
  });

  it('answers 408 to a socket that sends a part of the preface, or nothing, for the headers timeout', async () => {
    const short = await started({ listeners: [{ protocol: 'http', host: HOST, port: 0 }], http: { headersTimeoutMs: 200 } });
    try {
      for (const sent of ['PRI * HTTP/2', '']) {
        const socket = connect(short.port, HOST);
        const received = collect(socket);
        socket.write(sent);
        assert.match(await received, /^HTTP\/1\.1 408 Request Timeout\r\n/, JSON.stringify(sent));
      }
    } finally {
      await short.server.close();
    }
  });
});

describe('h2c: drain and PROXY', () => {
  it('GOAWAY on drain: the stream in flight is answered, the connection then ends', async () => {
    const { server, url } = await started({ listeners: [{ protocol: 'http', host: HOST, port: 0 }] });
    const session = h2c(url);
    await once(session, 'remoteSettings');
    const { goawayCode, result } = await drainDuringRequest(server, session, () => h2request(session, '/?delay=300'));
    assert.equal(goawayCode, h2.NGHTTP2_NO_ERROR);
    assert.equal(result.status, 200);
  });

  it('reads a PROXY v2 header, then the preface: HTTP/2 for the client the header names', async () => {
    const { server, url, port } = await started({ listeners: [{ protocol: 'http', host: HOST, port: 0, proxyProtocol: 'required' }] });
    try {
      const socket = connect(port, HOST);
      socket.write(v2(0x21, FAMILY.TCP4, addresses('TCP4', '203.0.113.7', '10.0.0.1', 40000, 80)));
      const session = h2c(url, socket);
      const { status, body } = await h2request(session, '/via-proxy');
      assert.equal(status, 200);
      const doc = JSON.parse(body) as EchoDocument;
      assert.equal(doc.httpVersion, '2.0');
      assert.deepEqual(doc.client, { address: '203.0.113.7', port: 40000 });
      assert.equal(doc.proxy?.via.address, HOST);
      session.close();
      await once(session, 'close');
    } finally {
      await server.close();
    }
  });
});

describe('http listeners on IPv6', () => {
  it('http://[::1] serves HTTP/1.1 and h2c, https://[::1] HTTP/2; the client is ::1 and the listener named in brackets', async () => {
    const server = createEchoServer({
      listeners: [
        { protocol: 'http', host: '::1', port: 0 },
        { protocol: 'https', host: '::1', port: 0 },
      ],
      tls: { selfSigned: true },
    });
    await server.listen();
    try {
      const [plain, secure] = server.addresses as { port: number }[];
      const url = `http://[::1]:${plain?.port}`;
      const h1 = await new Promise<string>((resolve, reject) => {
        const req = httpRequest({ host: '::1', port: plain?.port, path: '/v6', agent: false }, (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve(text));
        });
        req.on('error', reject).end();
      });
      const doc1 = JSON.parse(h1) as EchoDocument;
      assert.deepEqual([doc1.httpVersion, doc1.client.address, doc1.listener], ['1.1', '::1', url]);
      const session = h2c(url);
      const doc2 = JSON.parse((await h2request(session, '/v6')).body) as EchoDocument;
      assert.deepEqual([doc2.httpVersion, doc2.client.address], ['2.0', '::1']);
      session.close();
      const tls = connectHttp2(`https://[::1]:${secure?.port}`, { rejectUnauthorized: false });
      tls.on('error', () => {});
      const doc3 = JSON.parse((await h2request(tls, '/v6')).body) as EchoDocument;
      assert.deepEqual([doc3.httpVersion, doc3.client.address, doc3.listener], ['2.0', '::1', `https://[::1]:${secure?.port}`]);
      tls.close();
    } finally {
      await server.close();
    }
  });
});
