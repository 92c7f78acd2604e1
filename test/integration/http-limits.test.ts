// Hostile HTTP input over raw loopback sockets: malformed → 400, oversized head → 431, body over
// --max-body-bytes → 413, slow headers → 408 and closed; each counted, and a well-behaved client
// on the same server is answered meanwhile. Plus the connection limit, through admission.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createEchoServer, type EchoServer } from '../../src/index.js';
import { poll } from '../../testkit/wait.js';
import { HOST } from '../../testkit/clients.js';

/** Sends `request` (and nothing more) and returns everything the server sent until it closed. */
async function exchange(port: number, request: string | Buffer): Promise<string> {
  const socket = connect(port, HOST);
  socket.on('error', () => {});
  let out = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (out += chunk));
  await once(socket, 'connect');
  if (request.length > 0) socket.write(request);
  await once(socket, 'close');
  return out;
}

describe('http limits', () => {
  let server: EchoServer;
  let port: number;
  const refusals: string[] = [];

  before(async () => {
    server = createEchoServer({
      listeners: [{ protocol: 'http', host: HOST, port: 0 }],
      http: { maxBodyBytes: 1000, maxHeaderBytes: 2048, maxHeaders: 10, headersTimeoutMs: 300, requestTimeoutMs: 600 },
    });
    await server.listen();
    port = server.address?.port ?? 0;
    server.http.on('refusal', (reason) => refusals.push(reason));
  });
  after(() => server.close());

  it('answers a malformed request 400 and closes', async () => {
    refusals.length = 0;
    assert.match(await exchange(port, 'NOT HTTP AT ALL\r\n\r\n'), /^HTTP\/1.1 400 /);
    assert.deepEqual(refusals, ['bad_request']);
  });

  it('answers an oversized head 431, and too many headers 431', async () => {
    refusals.length = 0;
    assert.match(await exchange(port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(4000)}\r\n\r\n`), /^HTTP\/1.1 431 /);
    const many = Array.from({ length: 12 }, (_, i) => `X-H${i}: ${i}\r\n`).join('');
    assert.match(await exchange(port, `GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${many}\r\n`), /^HTTP\/1.1 431 /);
    assert.deepEqual(refusals, ['header_too_large', 'too_many_headers']);
  });

  it('answers a body over --max-body-bytes 413, announced or chunked', async () => {
    refusals.length = 0;
    const announced = await fetch(`http://${HOST}:${port}/`, { method: 'POST', body: 'x'.repeat(2000) });
    assert.equal(announced.status, 413);
    const chunk = 'x'.repeat(600);
    const chunked = await exchange(
      port,
      `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n${chunk}\r\n258\r\n${chunk}\r\n0\r\n\r\n`,
    );
    assert.match(chunked, /^HTTP\/1.1 413 /);
    assert.match(chunked, /connection: close/i);
    assert.deepEqual(refusals, ['body_too_large', 'body_too_large']);
  });

  it('closes slow headers with 408 while another client is answered', async () => {
    refusals.length = 0;
    const slow = exchange(port, 'GET / HTTP/1.1\r\nHost: x\r\n');
    const res = await fetch(`http://${HOST}:${port}/?n=1`);
    assert.equal(res.status, 200);
    assert.match(await slow, /^HTTP\/1.1 408 /);
    assert.deepEqual(refusals, ['request_timeout']);
  });
});

describe('http admission and drain', () => {
  it('refuses a connection over --max-connections through the server admission', async () => {
    const server = createEchoServer({ listeners: [{ protocol: 'http', host: HOST, port: 0 }], maxConnections: 1 });
    await server.listen();
    const rejected: string[] = [];
    server.on('reject', (reason) => rejected.push(reason));
    const port = server.address?.port ?? 0;
    const first = connect(port, HOST);
    await once(first, 'connect');
    first.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await once(first, 'data');
    assert.equal(await exchange(port, ''), '');
    assert.deepEqual(rejected, ['max_connections']);
    first.destroy();
    await server.close();
  });

  it('lets a request in flight finish on close(), with Connection: close', async () => {
    const server = createEchoServer({ listeners: [{ protocol: 'http', host: HOST, port: 0 }] });
    await server.listen();
    const port = server.address?.port ?? 0;
    const pending = exchange(port, 'GET /?delay=300 HTTP/1.1\r\nHost: x\r\n\r\n');
    await poll(() => (server.connectionsSnapshot()[0]?.bytesIn ?? 0) > 0, 5000, 'the request read');
    const closed = server.close();
    const answer = await pending;
    assert.match(answer, /^HTTP\/1.1 200 /);
    assert.match(answer, /^connection: close\r$/im);
    await closed;
  });
});
