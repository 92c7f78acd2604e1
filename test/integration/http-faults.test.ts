// The stream faults on an http listener, over real loopback sockets, as docs/http.md gives them an
// HTTP meaning: delay holds each answer, throttle paces each response body, close-after=bytes=
// closes after the response that reaches N bytes, close-after=time= closes the connection that
// long after it opened (after the response in flight), each close logged as fault_close_after.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { connect as connectHttp2, constants as h2 } from 'node:http2';
import { afterEach, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import type { FaultOptions } from '../../src/config/faults.js';
import { createEchoServer, type EchoServer } from '../../src/index.js';
import { HOST } from '../../testkit/clients.js';
import { poll } from '../../testkit/wait.js';

/** The server's close report comes after the client saw the close: waits for it, bounded. */
async function closedFor(count: number): Promise<string[]> {
  await poll(() => reasons.length >= count, 2000, `${count} connection close reports`);
  return reasons;
}

let server: EchoServer | null = null;
const reasons: string[] = [];

async function serve(faults: FaultOptions, protocol: 'http' | 'https' = 'http'): Promise<number> {
  reasons.length = 0;
  server = createEchoServer({
    listeners: [{ protocol, host: HOST, port: 0, faults }],
    ...(protocol === 'https' ? { tls: { selfSigned: true } } : {}),
  });
  server.on('connectionClose', (summary: { reason: string }) => reasons.push(summary.reason));
  await server.listen();
  return server.address?.port ?? 0;
}

/** Writes `request` on one connection; returns everything the server sent until it closed, and when (ms after connect). */
async function exchange(port: number, request: string): Promise<{ out: string; closedAtMs: number }> {
  const socket = connect(port, HOST);
  socket.on('error', () => {});
  let out = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (out += chunk));
  await once(socket, 'connect');
  const start = performance.now();
  if (request.length > 0) socket.write(request);
  await once(socket, 'close');
  return { out, closedAtMs: performance.now() - start };
}

afterEach(async () => {
  await server?.close();
  server = null;
});

describe("the byte echo's extras on http listeners", () => {
  it('no banner, prefix or digest: the answer is plain HTTP and the close summary has no digest of nothing', async () => {
    server = createEchoServer({
      listeners: [{ protocol: 'http', host: HOST, port: 0 }],
      banner: 'BANNER-9',
      prefix: 'PREFIX-9',
      digest: 'sha256',
    });
    const summaries: { digest: unknown }[] = [];
    server.on('connectionClose', (summary: { digest: unknown }) => summaries.push(summary));
    await server.listen();
    const { out } = await exchange(server.address?.port ?? 0, 'GET /?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    assert.match(out, /^HTTP\/1\.1 200 OK\r\n/, 'no banner before the status line');
    assert.doesNotMatch(out, /BANNER-9|PREFIX-9/, 'neither banner nor prefix in the answer');
    await poll(() => summaries.length === 1, 2000, 'the close report');
    assert.equal(summaries[0]?.digest, null);
  });
});

describe('faults on http listeners', () => {
  it('delay holds each answer', async () => {
    const port = await serve({ delayMs: [200, 200] });
    for (let i = 0; i < 2; i++) {
      const started = performance.now();
      const res = await fetch(`http://${HOST}:${port}/echo`, { method: 'POST', body: 'hello' });
      assert.equal(await res.text(), 'hello');
      assert.ok(performance.now() - started >= 190, `answer ${i + 1} held ${performance.now() - started} ms`);
    }
  });

  it('throttle paces the response body (one second of burst, then the rate), every byte there', async () => {
    const port = await serve({ throttleBytesPerSecond: 20_000 });
    const started = performance.now();
    const res = await fetch(`http://${HOST}:${port}/?bytes=50000`);
    const body = Buffer.from(await res.arrayBuffer());
    const took = performance.now() - started;
    assert.equal(body.length, 50_000);
    assert.ok(body.every((byte) => byte === 0x78));
    // 20 000 at once, 30 000 at 20 000/s: 1.5 s.
    assert.ok(took >= 1400 && took < 4000, `50000 bytes at 20000/s took ${took} ms`);
    const raw = await fetch(`http://${HOST}:${port}/echo`, { method: 'POST', body: 'y'.repeat(30_000) });
    assert.equal(await raw.text(), 'y'.repeat(30_000));
  });

  it('close-after=bytes=N: the response that reaches N says Connection: close, and the connection closes after it', async () => {
    const port = await serve({ closeAfter: { bytes: 1000 } });
    const request = (n: number): string => `GET /?bytes=600&n=${n} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const { out } = await exchange(port, request(1) + request(2) + request(3));
    const heads = out.match(/HTTP\/1\.1 [^]*?\r\n\r\n/g) ?? [];
    assert.equal(heads.length, 2, 'two answers, the third request never served');
    assert.doesNotMatch(heads[0] ?? '', /connection: close/i);
    assert.match(heads[1] ?? '', /connection: close/i);
    assert.equal(out.split('x'.repeat(600)).length, 3, 'both bodies whole');
    assert.deepEqual(await closedFor(1), ['fault_close_after']);
  });

  it('close-after=time=D: an idle connection closes at D; one with a response in flight closes after it', async () => {
    const port = await serve({ closeAfter: { ms: 300 } });
    const idle = await exchange(port, '');
    assert.ok(idle.closedAtMs >= 250 && idle.closedAtMs < 2000, `idle closed at ${idle.closedAtMs} ms`);
    assert.equal(idle.out, '');
    const busy = await exchange(port, 'GET /?delay=600ms HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(busy.out, /^HTTP\/1.1 200 [^]*connection: close/i);
    assert.ok(busy.closedAtMs >= 550, `closed after its answer, at ${busy.closedAtMs} ms`);
    assert.deepEqual(await closedFor(2), ['fault_close_after', 'fault_close_after']);
  });

  it('on HTTP/2: delay holds the answer, and close-after=time=D ends the session with GOAWAY after the stream in flight', async () => {
    const port = await serve({ delayMs: [150, 150], closeAfter: { ms: 100 } }, 'https');
    const session = connectHttp2(`https://${HOST}:${port}`, { rejectUnauthorized: false });
    session.on('error', () => {});
    let goaway: number | null = null;
    session.on('goaway', (code: number) => (goaway = code));
    const closed = new Promise((resolve) => session.once('close', resolve));
    const started = performance.now();
    const req = session.request({ ':path': '/h2' });
    const [headers] = (await once(req, 'response')) as [Record<string, unknown>];
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    await once(req, 'end');
    assert.equal(headers[':status'], 200);
    assert.ok(performance.now() - started >= 140, 'held by the delay fault');
    assert.equal((JSON.parse(body) as { path: string }).path, '/h2', 'the stream in flight finished whole');
    await closed;
    assert.equal(goaway, h2.NGHTTP2_NO_ERROR);
    assert.deepEqual(await closedFor(1), ['fault_close_after']);
  });

  it('close-after=time=D closes a WebSocket with 1001 (going away); its messages were echoed until then', async () => {
    const port = await serve({ closeAfter: { ms: 300 } });
    const ws = new WebSocket(`ws://${HOST}:${port}/`);
    await once(ws, 'open');
    ws.send('before');
    const [echo] = (await once(ws, 'message')) as [Buffer];
    assert.equal(echo.toString(), 'before');
    const [code] = (await once(ws, 'close')) as [number];
    assert.equal(code, 1001);
    assert.deepEqual(await closedFor(1), ['fault_close_after']);
  });
});
