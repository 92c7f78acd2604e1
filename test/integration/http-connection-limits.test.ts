// The connection-level bounds on http and https listeners that the first cut did not test: the
// idle timeout on a keep-alive connection, per-IP admission, requests per connection (HTTP/1.1:
// `Connection: close` on the last, then the FIN; HTTP/2: GOAWAY), HTTP/2 concurrent streams
// (SETTINGS_MAX_CONCURRENT_STREAMS, honoured by the client), and GOAWAY on drain with the
// stream in flight finished. node:http2 is the HTTP/2 client.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type ClientHttp2Session, type ClientHttp2Stream, connect as connectHttp2, constants } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { createEchoServer, type EchoServer, type EchoServerOptions } from '../../src/index.js';
import { HOST } from '../../testkit/clients.js';
import { drainDuringRequest } from '../../testkit/h2.js';

async function started(options: EchoServerOptions): Promise<{ server: EchoServer; port: number }> {
  const server = createEchoServer(options);
  await server.listen();
  return { server, port: server.address?.port ?? 0 };
}

/** A raw HTTP/1.1 client: everything received, and a promise for each complete response. */
class RawClient {
  readonly socket: Socket;
  received = '';
  readonly closed: Promise<void>;
  private waiting: (() => void) | null = null;

  constructor(port: number) {
    this.socket = connect(port, HOST);
    this.socket.on('error', () => {});
    this.socket.setEncoding('latin1').on('data', (chunk: string) => {
      this.received += chunk;
      this.waiting?.();
    });
    this.closed = once(this.socket, 'close').then(() => undefined);
  }

  /** Sends a GET and resolves with its response (head and body, by content-length). */
  async get(path: string): Promise<string> {
    const start = this.received.length;
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    for (;;) {
      const text = this.received.slice(start);
      const head = text.indexOf('\r\n\r\n');
      const length = /^content-length: (\d+)\r$/im.exec(text);
      if (head >= 0 && length !== null && text.length >= head + 4 + Number(length[1])) return text.slice(0, head + 4 + Number(length[1]));
      await Promise.race([
        new Promise<void>((resolve) => (this.waiting = resolve)),
        this.closed.then(() => assert.fail(`closed before the response to ${path}: ${text}`)),
      ]);
    }
  }
}

/** Resolves with a stream's status and body, or its RST_STREAM code when it is reset instead. */
async function h2get(session: ClientHttp2Session, path: string): Promise<{ status: number; body: string } | { rstCode: number }> {
  const stream: ClientHttp2Stream = session.request({ ':path': path });
  stream.on('error', () => {});
  let status = 0;
  let body = '';
  stream.on('response', (headers) => (status = Number(headers[':status'])));
  stream.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
  await once(stream, 'close');
  return status !== 0 && stream.rstCode === constants.NGHTTP2_NO_ERROR ? { status, body } : { rstCode: stream.rstCode ?? -1 };
}

describe('http connection limits', { timeout: 20_000 }, () => {
  it('closes an idle keep-alive connection at --idle-timeout, as idle_timeout', async () => {
    const { server, port } = await started({ listeners: [{ protocol: 'http', host: HOST, port: 0 }], idleTimeoutMs: 300 });
    const closing = once(server, 'connectionClose');
    const client = new RawClient(port);
    assert.match(await client.get('/'), /^HTTP\/1.1 200 /);
    const since = performance.now();
    const [summary] = (await closing) as [{ reason: string }];
    await client.closed;
    const after = performance.now() - since;
    assert.ok(after >= 200 && after < 3000, `closed ${Math.round(after)} ms after its answer`);
    assert.equal(summary.reason, 'idle_timeout');
    await server.close();
  });

  it('a request in progress keeps the connection from the idle timeout', async () => {
    const { server, port } = await started({ listeners: [{ protocol: 'http', host: HOST, port: 0 }], idleTimeoutMs: 300 });
    const client = new RawClient(port);
    // The answer takes longer than the idle timeout; the connection is busy, not idle.
    assert.match(await client.get('/?delay=600'), /^HTTP\/1.1 200 /);
    client.socket.destroy();
    await server.close();
  });

  it('refuses a second connection from one address over --max-connections-per-ip', async () => {
    const { server, port } = await started({ listeners: [{ protocol: 'http', host: HOST, port: 0 }], maxConnectionsPerIp: 1 });
    const rejected: string[] = [];
    server.on('reject', (reason) => rejected.push(reason));
    const first = new RawClient(port);
    assert.match(await first.get('/'), /^HTTP\/1.1 200 /);
    const second = new RawClient(port);
    second.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await second.closed;
    assert.equal(second.received, '');
    assert.deepEqual(rejected, ['max_connections_per_ip']);
    // The first is served on as before.
    assert.match(await first.get('/'), /^HTTP\/1.1 200 /);
    first.socket.destroy();
    await server.close();
  });

  it('https: a connection refused at accept is counted once, as max_connections (not also tls_error)', async () => {
    const { server, port } = await started({
      listeners: [{ protocol: 'https', host: HOST, port: 0 }],
      tls: { selfSigned: true },
      maxConnections: 1,
    });
    const rejected: string[] = [];
    server.on('reject', (reason) => rejected.push(reason));
    const first = connectHttp2(`https://${HOST}:${port}`, { rejectUnauthorized: false });
    first.on('error', () => {});
    await once(first, 'remoteSettings');
    const second = connectHttp2(`https://${HOST}:${port}`, { rejectUnauthorized: false });
    second.on('error', () => {});
    await new Promise((resolve) => second.once('close', resolve)); // (once() would reject on its 'error')
    // The first connection's request: anything the refusal was going to count has been counted.
    assert.ok('status' in (await h2get(first, '/')));
    assert.deepEqual(rejected, ['max_connections']);
    assert.equal(server.stats.connections.rejected.tls_error, 0);
    first.destroy();
    await server.close();
  });

  it('answers the last of --http-max-requests-per-connection with Connection: close, then closes', async () => {
    const { server, port } = await started({
      listeners: [{ protocol: 'http', host: HOST, port: 0 }],
      http: { maxRequestsPerConnection: 2 },
    });
    const refusals: string[] = [];
    server.http.on('refusal', (reason) => refusals.push(reason));
    const client = new RawClient(port);
    const first = await client.get('/');
    assert.doesNotMatch(first, /^connection: close\r$/im);
    const second = await client.get('/');
    assert.match(second, /^x-echod-request: 2\r$/im);
    assert.match(second, /^connection: close\r$/im);
    await client.closed;
    assert.deepEqual(refusals, ['max_requests_per_connection']);
    await server.close();
  });

  it('HTTP/2: GOAWAY after --http-max-requests-per-connection streams', async () => {
    const { server, port } = await started({
      listeners: [{ protocol: 'https', host: HOST, port: 0 }],
      tls: { selfSigned: true },
      http: { maxRequestsPerConnection: 2 },
    });
    const session = connectHttp2(`https://${HOST}:${port}`, { rejectUnauthorized: false });
    session.on('error', () => {});
    const goaway = once(session, 'goaway');
    for (const path of ['/a', '/b']) {
      const result = await h2get(session, path);
      assert.ok('status' in result && result.status === 200, `${path}: ${JSON.stringify(result)}`);
    }
    await goaway;
    session.destroy();
    await server.close();
  });

  it('HTTP/2: announces --http2-max-streams in SETTINGS, and the client is held to it', async () => {
    const { server, port } = await started({
      listeners: [{ protocol: 'https', host: HOST, port: 0 }],
      tls: { selfSigned: true },
      http: { maxConcurrentStreams: 2 },
    });
    const session = connectHttp2(`https://${HOST}:${port}`, { rejectUnauthorized: false });
    session.on('error', () => {});
    const [settings] = (await once(session, 'remoteSettings')) as [{ maxConcurrentStreams?: number }];
    assert.equal(settings.maxConcurrentStreams, 2);
    // Three at once, each held 300 ms: node's client honours the SETTINGS value and holds the
    // third back until a stream ends, so the third is answered a whole delay after the others.
    const began = performance.now();
    const timed = (path: string) => h2get(session, path).then((result) => ({ result, ms: performance.now() - began }));
    const results = await Promise.all(['/?delay=300&n=1', '/?delay=300&n=2', '/?delay=300&n=3'].map(timed));
    for (const { result } of results) assert.ok('status' in result && result.status === 200, JSON.stringify(result));
    const [first, second, third] = results.map(({ ms }) => ms) as [number, number, number];
    assert.ok(first < 590 && second < 590 && third >= 590, `answered after ${[first, second, third].map(Math.round).join(', ')} ms`);
    session.destroy();
    await server.close();
  });

  it('HTTP/2: GOAWAY on drain; the stream in flight is answered, the connection then ends', async () => {
    const { server, port } = await started({ listeners: [{ protocol: 'https', host: HOST, port: 0 }], tls: { selfSigned: true } });
    const session = connectHttp2(`https://${HOST}:${port}`, { rejectUnauthorized: false });
    session.on('error', () => {});
    await once(session, 'remoteSettings');
    const { goawayCode, result } = await drainDuringRequest(server, session, () => h2get(session, '/?delay=400'));
    assert.equal(goawayCode, constants.NGHTTP2_NO_ERROR);
    assert.ok('status' in result && result.status === 200, JSON.stringify(result));
  });
});

describe('/connections shows http connections', () => {
  it('HTTP/1.1, HTTP/2 and WebSocket, with their request and message counts', async () => {
    const { server, port } = await started({
      listeners: [
        { protocol: 'http', host: HOST, port: 0 },
        { protocol: 'https', host: HOST, port: 0 },
      ],
      tls: { selfSigned: true },
    });
    const httpsPort = (server.addresses[1] as { port: number }).port;
    const h1 = new RawClient(port);
    await h1.get('/');
    await h1.get('/');
    const h2 = connectHttp2(`https://${HOST}:${httpsPort}`, { rejectUnauthorized: false });
    h2.on('error', () => {});
    for (const path of ['/1', '/2', '/3']) await h2get(h2, path);
    const ws = new WebSocket(`ws://${HOST}:${port}/`);
    await once(ws, 'open');
    for (const text of ['a', 'b']) {
      ws.send(text);
      await once(ws, 'message');
    }
    const activity = server
      .connectionsSnapshot()
      .map((connection) => connection.http)
      .sort((a, b) => String(a?.protocol).localeCompare(String(b?.protocol)));
    assert.deepEqual(activity, [
      { protocol: 'h2', requests: 3, messages: 0 },
      { protocol: 'http/1.1', requests: 2, messages: 0 },
      { protocol: 'websocket', requests: 1, messages: 2 },
    ]);
    ws.close();
    h2.destroy();
    h1.socket.destroy();
    await server.close();
  });
});
