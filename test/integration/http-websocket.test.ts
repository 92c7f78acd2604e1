// WebSocket echo on http and https listeners with an independent client (Python's
// `websockets`, Debian python3-websockets) and ws: opcodes kept, close 1009 over the message
// limit (counted, other clients unaffected), close 1001 on drain; a client that stops reading
// while it sends far more than the server buffers (1 MiB) gets every echo, in order, once it reads.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { createEchoServer } from '../../src/index.js';
import { HOST } from '../../testkit/clients.js';
import { poll } from '../../testkit/wait.js';

const PYTHON = '/usr/bin/python3';

async function python(script: string, url: string): Promise<string> {
  const child = spawn(PYTHON, ['-c', script, url]);
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const [code] = (await once(child, 'close')) as [number | null];
  assert.equal(code, 0, err);
  return out;
}

const ECHO_SCRIPT = `
import asyncio, sys, websockets
async def main():
    async with websockets.connect(sys.argv[1], max_size=None) as ws:
        await ws.send("hello text")
        t = await ws.recv()
        await ws.send(bytes(range(256)) * 4)
        b = await ws.recv()
        pong = await ws.ping()
        await pong
        print(type(t).__name__, t, type(b).__name__, b == bytes(range(256)) * 4)
asyncio.run(main())
`;

const TOO_BIG_SCRIPT = `
import asyncio, sys, websockets
async def main():
    async with websockets.connect(sys.argv[1], max_size=None) as ws:
        await ws.send(b"x" * 2048)
        try:
            await ws.recv()
        except websockets.ConnectionClosed as e:
            print(e.rcvd.code)
asyncio.run(main())
`;

describe('websocket echo', () => {
  it('echoes text and binary with their opcodes and answers pings (python websockets)', async () => {
    const server = createEchoServer({ listeners: [{ protocol: 'http', host: HOST, port: 0 }] });
    await server.listen();
    try {
      const out = await python(ECHO_SCRIPT, `ws://${HOST}:${server.address?.port}/`);
      assert.equal(out.trim(), 'str hello text bytes True');
    } finally {
      await server.close();
    }
  });

  it('closes a message over --max-ws-message-bytes with 1009, counted, and other clients go on', async () => {
    const server = createEchoServer({ listeners: [{ protocol: 'http', host: HOST, port: 0 }], http: { maxWsMessageBytes: 1024 } });
    await server.listen();
    const refusals: string[] = [];
    server.http.on('refusal', (reason) => refusals.push(reason));
    try {
      const url = `ws://${HOST}:${server.address?.port}/`;
      const other = new WebSocket(url);
      await once(other, 'open');
      assert.equal((await python(TOO_BIG_SCRIPT, url)).trim(), '1009');
      assert.deepEqual(refusals, ['ws_message_too_big']);
      other.send('still here');
      const [data, binary] = (await once(other, 'message')) as [Buffer, boolean];
      assert.equal(data.toString(), 'still here');
      assert.equal(binary, false);
      other.close();
      await once(other, 'close');
    } finally {
      await server.close();
    }
  });

  it('echoes everything, in order, to a client that sends 16 MiB before it reads any', { timeout: 30_000 }, async () => {
    const server = createEchoServer({ listeners: [{ protocol: 'http', host: HOST, port: 0 }] });
    await server.listen();
    try {
      const ws = new WebSocket(`ws://${HOST}:${server.address?.port}/`);
      await once(ws, 'open');
      const count = 256;
      const size = 64 * 1024;
      const received: Buffer[] = [];
      const all = new Promise<void>((resolve) =>
        ws.on('message', (data: Buffer) => {
          received.push(data);
          if (received.length === count) resolve();
        }),
      );
      // Not reading: the server's echo backs up past its high-water mark and it stops reading
      // too; the sends below queue in the client. Reading again must bring every echo back.
      ws.pause();
      let sent = 0;
      for (let i = 0; i < count; i++) ws.send(Buffer.alloc(size, i), () => sent++);
      // The server has taken at least its high-water mark's worth (16 × 64 KiB) before the client reads.
      await poll(() => server.http.wsMessagesIn >= 16, 10_000, 'the server to take 1 MiB');
      ws.resume();
      await all;
      assert.equal(sent, count);
      for (let i = 0; i < count; i++) assert.ok((received[i] as Buffer).equals(Buffer.alloc(size, i)), `echo ${i} intact and in order`);
      assert.equal(server.http.wsMessagesIn, count);
      assert.equal(server.http.wsMessagesOut, count);
      ws.close();
      await once(ws, 'close');
    } finally {
      await server.close();
    }
  });

  it('closes open WebSockets with 1001 on drain, on wss:// too', async () => {
    const server = createEchoServer({ listeners: [{ protocol: 'https', host: HOST, port: 0 }], tls: { selfSigned: true } });
    await server.listen();
    const ws = new WebSocket(`wss://${HOST}:${server.address?.port}/`, { rejectUnauthorized: false });
    await once(ws, 'open');
    ws.send(Buffer.from([1, 2, 3]));
    const [data, binary] = (await once(ws, 'message')) as [Buffer, boolean];
    assert.deepEqual([...data], [1, 2, 3]);
    assert.equal(binary, true);
    const closed = once(ws, 'close');
    await server.close();
    const [code] = (await closed) as [number];
    assert.equal(code, 1001);
  });
});
