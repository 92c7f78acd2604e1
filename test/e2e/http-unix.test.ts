// HTTP listeners in the echod binary, under Node and under Bun: http:// and http+unix:// serve
// the JSON document, the raw echo, HTTP/2 with prior knowledge (curl --http2-prior-knowledge)
// and WebSocket; curl reaches the unix socket with --unix-socket. The socket file follows the
// unix listeners' rules (socket-file.ts): a live socket or a regular file at the path is
// refused naming it and left alone, and echod removes its own file on exit.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import type { EchoDocument } from '../../src/http/document.js';
import { HOST } from '../../testkit/clients.js';
import { curl } from '../../testkit/curl.js';
import { EchodProcess, RUNTIMES, START_MS } from '../../testkit/echod-process.js';

const TEST_TIMEOUT_MS = 30_000;

/** One WebSocket message sent and its echo received, at `url` (ws:// or ws+unix://PATH:/). */
async function wsEcho(url: string, text: string): Promise<string> {
  const ws = new WebSocket(url);
  await once(ws, 'open');
  const echoed = once(ws, 'message');
  ws.send(text);
  const [data] = (await echoed) as [Buffer];
  ws.close();
  await once(ws, 'close');
  return data.toString();
}

describe('http listeners in the binary', () => {
  let dir: string;
  let count = 0;
  const echods: EchodProcess[] = [];
  const servers: Server[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'echod-http-unix-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    for (const echod of echods.splice(0)) await echod.stop();
    for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
  });

  const freshPath = (): string => join(dir, `h${count++}.sock`);

  /** echod with `args` (JSON logs), once it says it started. */
  async function started(runtime: (typeof RUNTIMES)[number], args: string[]): Promise<EchodProcess> {
    const echod = new EchodProcess(runtime, ['--log-format', 'json', ...args]);
    echods.push(echod);
    await echod.line('echod started', START_MS);
    return echod;
  }

  for (const runtime of RUNTIMES) {
    describe(`under ${runtime}`, () => {
      it('http:// and http+unix:// answer JSON, raw, h2c with prior knowledge and WebSocket', { timeout: TEST_TIMEOUT_MS }, async () => {
        const path = freshPath();
        const echod = await started(runtime, ['--listen', `http://${HOST}:0`, '--listen', `http+unix://${path}`]);
        const tcp = echod.logs.find((line) => line.msg === 'listening' && line.port !== undefined);
        assert.ok(tcp !== undefined && typeof tcp.port === 'number');
        const unixLine = echod.logs.find((line) => line.msg === 'listening' && line.path === path);
        assert.equal(unixLine?.listener, `http+unix://${path}`);
        const http = `http://${HOST}:${tcp.port}`;

        for (const [where, base, extra] of [
          ['tcp', http, []],
          ['unix', 'http://localhost', ['--unix-socket', path]],
        ] as const) {
          const json = await curl([...extra, '--data-binary', 'héllo', `${base}/doc?a=1`]);
          assert.equal(json.status, 200, where);
          const doc = JSON.parse(json.body) as EchoDocument;
          assert.equal(doc.httpVersion, '1.1');
          assert.equal(doc.body.data, 'héllo');
          assert.equal(doc.listener, where === 'tcp' ? http : `http+unix://${path}`);

          const raw = await curl([...extra, '--data-binary', 'raw bytes', `${base}/echo`]);
          assert.equal(raw.body, 'raw bytes', where);

          const h2c = await curl([...extra, '--http2-prior-knowledge', '--data-binary', 'over h2c', `${base}/doc`]);
          assert.match(h2c.headers, /^HTTP\/2 200/m, where);
          assert.equal((JSON.parse(h2c.body) as EchoDocument).httpVersion, '2.0', where);
          assert.equal((JSON.parse(h2c.body) as EchoDocument).body.data, 'over h2c', where);
        }
        assert.equal(await wsEcho(`ws://${HOST}:${tcp.port}/`, 'ws over tcp'), 'ws over tcp');
        assert.equal(await wsEcho(`ws+unix://${path}:/`, 'ws over unix'), 'ws over unix');

        echod.signal('SIGTERM');
        assert.equal((await echod.exited()).code, 0);
        assert.equal(existsSync(path), false, 'its socket file is removed on exit');
      });

      it('a live socket at the path is refused naming it, and keeps serving', { timeout: TEST_TIMEOUT_MS }, async () => {
        const path = freshPath();
        const other = createServer((socket) => {
          socket.on('error', () => {}); // echod's probe connects and goes at once
          socket.end('other\n');
        });
        other.listen(path);
        await once(other, 'listening');
        servers.push(other);
        const { ino } = lstatSync(path);
        const echod = new EchodProcess(runtime, ['--listen', `http+unix://${path}`, '--log-format', 'json']);
        echods.push(echod);
        const exit = await echod.exited(START_MS);
        assert.notEqual(exit.code, 0);
        assert.match(echod.stderr, new RegExp(`${path.replace(/[.]/g, '\\.')} is a socket another running process serves`));
        assert.equal(lstatSync(path).ino, ino, 'the same socket file');
        const client = connect(path);
        let said = '';
        client.setEncoding('utf8').on('data', (chunk: string) => (said += chunk));
        await once(client, 'close');
        assert.equal(said, 'other\n', 'its server still serves it');
      });

      it('a regular file at the path is refused naming it, and left untouched', { timeout: TEST_TIMEOUT_MS }, async () => {
        const path = freshPath();
        writeFileSync(path, 'precious data');
        const echod = new EchodProcess(runtime, ['--listen', `https+unix://${path}`, '--tls-self-signed', '--log-format', 'json']);
        echods.push(echod);
        const exit = await echod.exited(START_MS);
        assert.notEqual(exit.code, 0);
        assert.match(echod.stderr, /exists and is not a socket/);
        assert.ok(echod.stderr.includes(path));
        assert.equal(readFileSync(path, 'utf8'), 'precious data');
      });
    });
  }

  it('https+unix:// answers HTTP/2 and HTTP/1.1 by ALPN (curl --unix-socket)', { timeout: TEST_TIMEOUT_MS }, async () => {
    const path = freshPath();
    await started('node', ['--listen', `https+unix://${path}`, '--tls-self-signed']);
    const h2 = await curl(['-k', '--http2', '--unix-socket', path, 'https://localhost/doc']);
    assert.equal((JSON.parse(h2.body) as EchoDocument).httpVersion, '2.0');
    const h1 = await curl(['-k', '--http1.1', '--unix-socket', path, '--data-binary', 'tls', 'https://localhost/echo']);
    assert.equal(h1.body, 'tls');
  });

  it(
    '--workers with an http+unix:// listener exits 2 naming it (processes cannot share one socket file)',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const path = freshPath();
      const echod = new EchodProcess('node', ['--listen', `http+unix://${path}`, '--workers', '2']);
      echods.push(echod);
      const exit = await echod.exited(START_MS);
      assert.equal(exit.code, 2);
      assert.match(echod.stderr, new RegExp(`cannot serve http\\+unix://${path.replace(/[.]/g, '\\.')}`));
      assert.equal(existsSync(path), false, 'nothing was bound');
    },
  );
});
