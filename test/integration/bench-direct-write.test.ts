// bench writes TCP messages straight to the socket's handle (src/tools/bench/direct-write.ts),
// relying on node:net internals. On this Node the shape check must pass — if a Node release
// changes it, this fails here rather than bench quietly falling back to socket.write — and the
// writes must behave as socket.write's: every byte delivered in order, also when the kernel
// queues part of a write, and a failed write reported as the socket's 'error'.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { directWriteShape, writerFor } from '../../src/tools/bench/direct-write.js';
import { HOST } from '../../testkit/clients.js';

const onBun = process.versions.bun !== undefined;
/** Far more than loopback's socket buffers take at once, so the write is queued in part. */
const LARGE_BYTES = 16 * 1024 * 1024;

/** A connected client socket and the server's end of it. */
async function connected(server: Server): Promise<[Socket, Socket]> {
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const socket = connect({ host: HOST, port: (server.address() as AddressInfo).port });
  await once(socket, 'connect');
  const [peer] = await accepted;
  return [socket, peer];
}

function pattern(bytes: number, seed: number): Buffer {
  const buf = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i++) buf[i] = (i * 31 + seed) & 0xff;
  return buf;
}

describe('bench direct writes', { skip: onBun ? 'Bun: bench writes through socket.write' : false }, () => {
  let server: Server;
  const accepted: Socket[] = [];
  before(async () => {
    server = createServer((socket) => accepted.push(socket));
    server.listen(0, HOST);
    await once(server, 'listening');
  });
  after(() => {
    for (const socket of accepted) socket.destroy();
    server.close();
  });

  it(`are available on this Node (${process.version})`, () => {
    assert.equal(directWriteShape(), null);
  });

  it('deliver every byte in order, past what the kernel takes at once, without the Writable', async () => {
    const [socket, peer] = await connected(server);
    const write = writerFor(socket);
    const first = pattern(LARGE_BYTES, 1);
    const second = pattern(64, 2);
    write(first);
    write(second);
    // Bypassing the Writable is the point: socket.write would have queued the rest there.
    assert.equal(socket.writableLength, 0);
    const chunks: Buffer[] = [];
    let received = 0;
    const total = first.length + second.length;
    const done = new Promise<void>((resolve) => {
      peer.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        if (received >= total) resolve();
      });
    });
    peer.resume();
    await done;
    assert.ok(Buffer.concat(chunks).equals(Buffer.concat([first, second])));
    socket.destroy();
  });

  it("report a failed write as the socket's 'error' (code and syscall), and write nothing once destroyed", async () => {
    const [socket, peer] = await connected(server);
    // Not reading, so the reset is seen by the write, not by a read.
    socket.pause();
    const write = writerFor(socket);
    peer.resetAndDestroy();
    await once(peer, 'close');
    const failed = once(socket, 'error') as Promise<[NodeJS.ErrnoException]>;
    write(pattern(64, 3));
    const [err] = await failed;
    assert.ok(err.code === 'ECONNRESET' || err.code === 'EPIPE', `code ${String(err.code)}`);
    assert.equal(err.syscall, 'write');
    assert.equal(socket.destroyed, true);
    write(pattern(64, 4));
  });
});
