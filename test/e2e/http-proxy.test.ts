// The PROXY protocol on http and https listeners: a balancer's header (v1 or v2, TLVs included)
// is read in clear text before HTTP — before the TLS handshake on https — by the tcp and tls
// listeners' own reader; the JSON document shows the header's client, its TLVs and the
// balancer (`proxy.via`), admission re-checks the per-IP limit with the header's address, and
// `optional` / `required` behave as on tcp. Last, a real haproxy in HTTP mode with
// send-proxy-v2 in front of the echod binary.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import type { EchoDocument } from '../../src/http/document.js';
import type { EchoServerOptions } from '../../src/config/options.js';
import { Fixture, HOST, WAIT_MS } from '../../testkit/clients.js';
import { assertBuilt, type EchodProcess, startEchod } from '../../testkit/echod-process.js';
import { HAPROXY_SKIP, startHaproxy } from '../../testkit/haproxy.js';
import type { OutputProcess } from '../../testkit/output-process.js';
import { addresses, authorityTlv, FAMILY, v1, v2 } from '../../testkit/proxy-headers.js';
import { within } from '../../testkit/wait.js';

const TEST_TIMEOUT_MS = 20_000;

/** One HTTP/1.1 response read off `socket`: status, headers (lower-case names), body (by Content-Length). */
async function readResponse(socket: Socket): Promise<{ status: number; headers: Map<string, string>; body: Buffer }> {
  let data = Buffer.alloc(0);
  for (;;) {
    const end = data.indexOf('\r\n\r\n');
    if (end >= 0) {
      const [statusLine = '', ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
      const headers = new Map(
        lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
      );
      const length = Number(headers.get('content-length') ?? 0);
      if (data.length >= end + 4 + length)
        return { status: Number(statusLine.split(' ')[1]), headers, body: data.subarray(end + 4, end + 4 + length) };
    }
    const [chunk] = (await within(
      Promise.race([once(socket, 'data'), once(socket, 'close').then(() => [null])]),
      WAIT_MS,
      'a response',
    )) as [Buffer | null];
    if (chunk === null) throw new Error(`closed after ${JSON.stringify(data.toString('latin1'))}`);
    data = Buffer.concat([data, chunk]);
  }
}

/** A connection to `port` that sent `preamble` (a PROXY header, or nothing) then `request` (in one write when `together`). */
async function connectWith(port: number, preamble: Buffer, together = true): Promise<Socket> {
  const socket = netConnect(port, HOST);
  await once(socket, 'connect');
  if (together) socket.write(Buffer.concat([preamble, Buffer.alloc(0)]));
  else for (const byte of preamble) socket.write(Buffer.from([byte]));
  return socket;
}

function get(path: string, extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: echo.test\r\n${extra}\r\n`;
}

function post(path: string, body: string): string {
  return `POST ${path} HTTP/1.1\r\nHost: echo.test\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** A v2 PROXY header from `source:port` to 203.0.113.9:443, with an authority TLV. */
function v2From(source: string, port: number, authority = 'app.example'): Buffer {
  return v2(0x21, FAMILY.TCP4, Buffer.concat([addresses('TCP4', source, '203.0.113.9', port, 443), authorityTlv(authority)]));
}

describe('PROXY protocol on http and https listeners', () => {
  let fixture: Fixture | null = null;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await fixture?.cleanup();
    fixture = null;
  });

  async function start(listeners: NonNullable<EchoServerOptions['listeners']>, options: EchoServerOptions = {}): Promise<number[]> {
    fixture = await Fixture.start({ listeners, tls: { selfSigned: true }, proxyProtocolTimeoutMs: 1000, ...options });
    return (fixture.server.addresses as { port: number }[]).map((address) => address.port);
  }

  it(
    'http, required: a v1 header names the client; keep-alive requests on that connection all show it',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const [port = 0] = await start([{ protocol: 'http', host: HOST, port: 0, proxyProtocol: 'required' }]);
      const socket = await connectWith(
        port,
        Buffer.concat([v1('TCP4', '198.51.100.7', '203.0.113.9', 40001, 80), Buffer.from(post('/first?a=1', 'hello'))]),
      );
      sockets.push(socket);
      const first = await readResponse(socket);
      assert.equal(first.status, 200);
      const doc = JSON.parse(first.body.toString()) as EchoDocument;
      assert.deepEqual(doc.client, { address: '198.51.100.7', port: 40001 });
      assert.equal(doc.proxy?.version, 1);
      assert.deepEqual(doc.proxy?.source, { address: '198.51.100.7', port: 40001 });
      assert.deepEqual(doc.proxy?.destination, { address: '203.0.113.9', port: 80 });
      assert.equal(doc.proxy?.via.address, HOST);
      assert.equal(doc.proxy?.via.port, socket.localPort);
      assert.equal(doc.body.data, 'hello');
      socket.write(get('/second'));
      const second = JSON.parse((await readResponse(socket)).body.toString()) as EchoDocument;
      assert.deepEqual([second.connection.request, second.connection.id, second.client.address], [2, doc.connection.id, '198.51.100.7']);
      // The header's bytes are the balancer's, not the client's.
      socket.destroy();
      const [summary] = (await fixture?.events.closed(1)) ?? [];
      assert.equal(summary?.bytesReceived, Buffer.byteLength(post('/first?a=1', 'hello')) + Buffer.byteLength(get('/second')));
    },
  );

  it(
    'http, optional: a v2 header with TLVs byte by byte, and a client without one, both answered',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const [port = 0] = await start([{ protocol: 'http', host: HOST, port: 0, proxyProtocol: 'optional' }]);
      const withHeader = await connectWith(port, v2From('192.0.2.33', 5555), false);
      sockets.push(withHeader);
      withHeader.write(get('/?format=json'));
      const doc = JSON.parse((await readResponse(withHeader)).body.toString()) as EchoDocument;
      assert.deepEqual(doc.client, { address: '192.0.2.33', port: 5555 });
      assert.equal(doc.proxy?.version, 2);
      assert.equal(doc.proxy?.command, 'PROXY');
      assert.equal(doc.proxy?.transport, 'TCP4');
      assert.deepEqual(doc.proxy?.tlvs, { authority: 'app.example' });
      const without = await connectWith(port, Buffer.from(get('/plain')));
      sockets.push(without);
      const plain = JSON.parse((await readResponse(without)).body.toString()) as EchoDocument;
      assert.equal(plain.proxy, null);
      assert.deepEqual(plain.client, { address: HOST, port: without.localPort });
      // A raw echo after a header is byte-exact.
      const raw = await connectWith(
        port,
        Buffer.concat([v1('TCP4', '192.0.2.34', '203.0.113.9', 1, 2), Buffer.from(post('/echo', 'bytes\r\nexact\0'))]),
      );
      sockets.push(raw);
      assert.equal((await readResponse(raw)).body.toString('latin1'), 'bytes\r\nexact\0');
    },
  );

  it(
    'http, required: no header, a malformed one, or none in time: refused as proxy_protocol_error, nothing answered',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const [port = 0] = await start([{ protocol: 'http', host: HOST, port: 0, proxyProtocol: 'required' }], {
        proxyProtocolTimeoutMs: 200,
      });
      const cases = [Buffer.from(get('/')), Buffer.from('PROXY TCP4 not-an-address 203.0.113.9 1 2\r\n'), Buffer.from('PROXY TCP4 ')];
      for (const preamble of cases) {
        const socket = await connectWith(port, preamble);
        sockets.push(socket);
        let received = '';
        socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
        await within(once(socket, 'close'), WAIT_MS, 'the refused connection to close');
        assert.equal(received, '');
      }
      assert.equal(fixture?.server.stats.connections.rejected.proxy_protocol_error, 3);
      assert.equal(fixture?.server.stats.connections.total, 0);
    },
  );

  it('http: the per-IP limit counts the address the header names, not the balancer', { timeout: TEST_TIMEOUT_MS }, async () => {
    const [port = 0] = await start([{ protocol: 'http', host: HOST, port: 0, proxyProtocol: 'required' }], { maxConnectionsPerIp: 1 });
    const first = await connectWith(port, Buffer.concat([v2From('192.0.2.1', 1000), Buffer.from(get('/'))]));
    sockets.push(first);
    assert.equal((await readResponse(first)).status, 200);
    // Same client behind the same balancer: over its limit. Another client: served.
    const again = await connectWith(port, Buffer.concat([v2From('192.0.2.1', 1001), Buffer.from(get('/'))]));
    sockets.push(again);
    await within(once(again, 'close'), WAIT_MS, 'the second connection from 192.0.2.1 to be refused');
    const other = await connectWith(port, Buffer.concat([v2From('192.0.2.2', 1002), Buffer.from(get('/'))]));
    sockets.push(other);
    const doc = JSON.parse((await readResponse(other)).body.toString()) as EchoDocument;
    assert.equal(doc.client.address, '192.0.2.2');
    assert.equal(fixture?.server.stats.connections.rejected.max_connections_per_ip, 1);
  });

  it(
    'https: the header in clear text before the ClientHello (one write with it); HTTP/1.1 and HTTP/2 show the header and the TLS details',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const [port = 0] = await start([{ protocol: 'https', host: HOST, port: 0, proxyProtocol: 'required' }]);
      /** A TLS connection whose first bytes (corked with the ClientHello) are `header`. */
      const tlsAfter = (header: Buffer, alpn: string): Promise<import('node:tls').TLSSocket> => {
        const raw = netConnect(port, HOST);
        sockets.push(raw);
        raw.cork();
        raw.write(header);
        const secure = tlsConnect({ socket: raw, rejectUnauthorized: false, servername: 'localhost', ALPNProtocols: [alpn] });
        process.nextTick(() => raw.uncork());
        return within(
          once(secure, 'secureConnect').then(() => secure),
          WAIT_MS,
          'the TLS handshake after the header',
        );
      };
      // HTTP/1.1 over TLS (node:https's agent-less request on our socket).
      const h1Socket = await tlsAfter(v2From('198.51.100.20', 6001, 'h1.example'), 'http/1.1');
      const h1 = await new Promise<EchoDocument>((resolve, reject) => {
        const req = httpRequest(
          { createConnection: () => h1Socket, path: '/h1', method: 'POST', headers: { host: 'localhost' } },
          (res) => {
            let body = '';
            res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
            res.on('end', () => resolve(JSON.parse(body) as EchoDocument));
          },
        );
        req.on('error', reject);
        req.end('over tls');
      });
      assert.equal(h1.httpVersion, '1.1');
      assert.deepEqual(h1.client, { address: '198.51.100.20', port: 6001 });
      assert.deepEqual(h1.proxy?.tlvs, { authority: 'h1.example' });
      assert.equal(h1.tls?.alpn, 'http/1.1');
      assert.equal(h1.body.data, 'over tls');
      // HTTP/2, two streams on the connection.
      const h2Socket = await tlsAfter(v1('TCP6', '2001:db8::5', '2001:db8::1', 7002, 443), 'h2');
      const session = http2Connect('https://localhost', { createConnection: () => h2Socket });
      const stream = async (path: string): Promise<EchoDocument> => {
        const req = session.request({ ':path': path });
        let body = '';
        req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        await within(once(req, 'end'), WAIT_MS, `HTTP/2 ${path}`);
        return JSON.parse(body) as EchoDocument;
      };
      const one = await stream('/one');
      const two = await stream('/two');
      session.close();
      assert.equal(one.httpVersion, '2.0');
      assert.equal(one.tls?.alpn, 'h2');
      assert.deepEqual(one.client, { address: '2001:db8::5', port: 7002 });
      assert.equal(one.proxy?.transport, 'TCP6');
      assert.deepEqual([two.connection.id, two.connection.request], [one.connection.id, 2]);
    },
  );

  it(
    'https, required: a ClientHello without a header is refused as proxy_protocol_error, not tls_error',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const [port = 0] = await start([{ protocol: 'https', host: HOST, port: 0, proxyProtocol: 'required' }]);
      const secure = tlsConnect({ port, host: HOST, rejectUnauthorized: false });
      secure.on('error', () => {}); // the reset it gets
      await within(new Promise((resolve) => secure.once('close', resolve)), WAIT_MS, 'the refused TLS client to be closed');
      assert.equal(fixture?.server.stats.connections.rejected.proxy_protocol_error, 1);
      assert.equal(fixture?.server.stats.connections.rejected.tls_error, 0);
    },
  );
});

describe('haproxy (HTTP mode, send-proxy-v2) in front of an http listener', { skip: HAPROXY_SKIP }, () => {
  const echods: EchodProcess[] = [];
  const proxies: OutputProcess[] = [];
  const sockets: Socket[] = [];
  let dir = '';
  before(assertBuilt);
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    for (const proxy of proxies.splice(0)) await proxy.stop();
    for (const echod of echods.splice(0)) await echod.stop();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  it(
    'each request names the real client and haproxy; the unique-id TLV haproxy sends is shown; bodies round-trip',
    { timeout: 40_000 },
    async (t) => {
      const { echod, port: echodPort } = await startEchod(
        'node',
        ['--listen', `http://${HOST}:0`, '--proxy-protocol', 'required', '--server-id', 'behind-haproxy'],
        (started) => echods.push(started),
      );
      dir = mkdtempSync(join(tmpdir(), 'echod-haproxy-http-'));
      const config = (bind: string): string =>
        [
          'global',
          '  maxconn 256',
          'defaults',
          '  mode http',
          '  timeout connect 5s',
          '  timeout client 30s',
          '  timeout server 30s',
          'frontend web',
          `  bind ${bind}`,
          '  unique-id-format req-%rt',
          '  default_backend echod',
          'backend echod',
          `  server e1 ${HOST}:${echodPort} send-proxy-v2 proxy-v2-options unique-id`,
          '',
        ].join('\n');
      const { haproxy, port } = await startHaproxy(dir, config, (started) => proxies.push(started));
      try {
        const client = await connectWith(port, Buffer.from(post('/through/haproxy?x=1', 'via haproxy')));
        sockets.push(client);
        const response = await readResponse(client);
        assert.equal(response.status, 200, response.body.toString());
        assert.equal(response.headers.get('x-echod-server'), 'behind-haproxy');
        const doc = JSON.parse(response.body.toString()) as EchoDocument;
        assert.equal(doc.method, 'POST');
        assert.equal(doc.path, '/through/haproxy');
        assert.equal(doc.body.data, 'via haproxy');
        // The real client (this socket), not haproxy; haproxy is `via`.
        assert.deepEqual(doc.client, { address: HOST, port: client.localPort });
        assert.equal(doc.proxy?.version, 2);
        assert.deepEqual(doc.proxy?.destination, { address: HOST, port });
        assert.equal(doc.proxy?.via.address, HOST);
        assert.notEqual(doc.proxy?.via.port, client.localPort);
        // (haproxy's authority TLV is the TLS SNI its frontend got: none on plain http.)
        assert.match(doc.proxy?.tlvs.uniqueId ?? '', /^req-\d+$/);
        // The raw echo through haproxy is byte-exact too.
        client.write(post('/echo', 'raw\tbytes'));
        assert.equal((await readResponse(client)).body.toString(), 'raw\tbytes');
        const line = await echod.line('connection opened');
        assert.equal(line.remote, HOST);
        assert.equal(line.remotePort, client.localPort);
      } catch (err) {
        t.diagnostic(`haproxy: ${haproxy.output}`);
        for (const line of echod.summary()) t.diagnostic(line);
        throw err;
      }
    },
  );
});
