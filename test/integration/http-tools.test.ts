// `echod check` and `echod bench` on http://, https://, ws:// and wss:// targets, over loopback:
// against echod's own http and https listeners every case passes and every echo is verified; against
// servers that echo wrongly (a body altered, an opcode changed, a request number that does not
// advance) the right case fails and bench counts the mismatches.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocketServer } from 'ws';
import { createEchoServer, type EchoServer } from '../../src/index.js';
import { benchMain } from '../../src/tools/bench.js';
import type { WebBenchResult } from '../../src/tools/bench/web.js';
import { checkMain } from '../../src/tools/check.js';
import type { CheckResult } from '../../src/tools/check/main.js';
import { HOST } from '../../testkit/clients.js';
import { histogramLogTotals } from '../../testkit/histogram-log.js';
import { captureIo, runJson } from '../../testkit/tool-io.js';

const TEST_TIMEOUT_MS = 30_000;

const check = (args: readonly string[]): Promise<{ code: number; result: CheckResult; stderr: string }> =>
  runJson<CheckResult>(checkMain, args);
const bench = (args: readonly string[]): Promise<{ code: number; result: WebBenchResult }> => runJson<WebBenchResult>(benchMain, args);

function statuses(result: CheckResult): Record<string, string> {
  return Object.fromEntries(result.cases.map((c) => [c.name, c.status]));
}

describe('echod check and bench on HTTP and WebSocket targets', () => {
  let server: EchoServer;
  let http = '';
  let https = '';
  before(async () => {
    server = createEchoServer({
      listeners: [
        { protocol: 'http', host: HOST, port: 0 },
        { protocol: 'https', host: HOST, port: 0 },
      ],
      tls: { selfSigned: true },
    });
    await server.listen();
    const [plain, secure] = server.addresses as AddressInfo[];
    http = `${HOST}:${plain?.port}`;
    https = `${HOST}:${secure?.port}`;
  });
  after(() => server.close());

  it(
    'check http:// and https:// (--tls-insecure): the JSON document, keep-alive numbering and the raw echo all pass',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      for (const [target, extra] of [
        [`http://${http}/some/path`, []],
        [`https://${https}/`, ['--tls-insecure']],
      ] as const) {
        const { code, result } = await check([...extra, '--max-size', '1MiB', target]);
        assert.equal(code, 0, JSON.stringify(result));
        assert.deepEqual(statuses(result), {
          'http-json': 'pass',
          'http-keep-alive': 'pass',
          'http-raw': 'pass',
          'http-raw-large': 'pass',
        });
        assert.equal(result.transport, target.split(':')[0]);
        assert.match(result.cases[1]?.reason ?? '', /requests 1, 2, 3$/);
      }
    },
  );

  it(
    'check ws:// and wss://: text and binary opcodes kept, order, a large message, the close handshake',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      for (const [target, extra] of [
        [`ws://${http}/`, []],
        [`wss://${https}/`, ['--tls-insecure']],
      ] as const) {
        const { code, result } = await check([...extra, target]);
        assert.equal(code, 0, JSON.stringify(result));
        assert.deepEqual(statuses(result), {
          'ws-text': 'pass',
          'ws-binary': 'pass',
          'ws-many': 'pass',
          'ws-large': 'pass',
          'ws-close': 'pass',
        });
      }
    },
  );

  it(
    'check https:// without --tls-insecure fails on the self-signed certificate; a closed port stops the run',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const secure = await check(['--cases', 'http-json', `https://${https}/`]);
      assert.equal(secure.code, 1);
      assert.match(secure.result.cases[0]?.reason ?? '', /self-signed|SELF_SIGNED/i);
      const closed = createServer();
      closed.listen(0, HOST);
      await once(closed, 'listening');
      const port = (closed.address() as AddressInfo).port;
      await new Promise((resolve) => closed.close(resolve));
      const refused = await check([`http://${HOST}:${port}/`]);
      assert.equal(refused.code, 1);
      assert.match(refused.result.error ?? '', /cannot reach .* over HTTP: connection refused/);
      assert.equal(refused.result.notRun?.length, 3);
    },
  );

  it(
    'bench http:// and https://: requests/s with every body verified; ws:// and wss:// messages/s with depth',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const runs: [string, string[]][] = [
        [`http://${http}/`, ['-c', '3']],
        [`https://${https}/`, ['-c', '2', '--tls-insecure']],
        [`ws://${http}/`, ['-c', '2', '-d', '8', '-s', '4KiB']],
        [`wss://${https}/`, ['-c', '2', '-d', '4', '--tls-insecure']],
      ];
      for (const [target, extra] of runs) {
        const { code, result } = await bench([...extra, '-n', '300', '-w', '0', target]);
        assert.equal(code, 0, JSON.stringify(result));
        assert.equal(result.ok, true);
        assert.ok(result.msgs >= 300, `${target}: ${result.msgs}`);
        assert.equal(result.latencyUs.count, result.msgs);
        assert.equal(result.failures, 0);
        assert.equal(result.unit, target.startsWith('http') ? 'requests' : 'messages');
        assert.ok(result.msgsPerSec > 0 && result.latencyUs.p50 > 0);
      }
    },
  );

  it(
    'bench --histogram FILE on a ws:// target: an HdrHistogram log whose intervals add up to the messages measured',
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'echod-web-bench-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const file = join(dir, 'ws.hlog');
      const { code, result } = await bench(['-c', '2', '-d', '4', '--duration', '1500ms', '-w', '0', '--histogram', file, `ws://${http}/`]);
      assert.equal(code, 0);
      const { intervals, total } = histogramLogTotals(readFileSync(file, 'utf8'));
      assert.ok(intervals >= 2, `one interval per second at least: ${intervals}`);
      assert.equal(total, result.msgs);
      assert.equal(result.latencyUs.count, result.msgs);
    },
  );

  it('bench refuses what does not apply to a URL target (exit 2)', async () => {
    for (const args of [
      ['-d', '2', `http://${http}/`],
      ['--udp', `ws://${http}/`],
      ['--threads', '2', `ws://${http}/`],
      ['--tls-insecure', `http://${http}/`],
    ]) {
      const captured = captureIo();
      assert.equal(await benchMain(args, captured.io), 2, args.join(' '));
    }
  });
});

describe('check and bench catch a wrong HTTP or WebSocket echo', () => {
  let wrong: Server;
  let wss: WebSocketServer;
  let target = '';
  before(async () => {
    // An "echo" that drops the last byte of raw bodies and never numbers requests; on WebSocket,
    // text comes back as binary and binary with its last byte flipped.
    wrong = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (req.url?.includes('format=raw') === true) {
          res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/octet-stream' });
          res.end(body.subarray(0, Math.max(0, body.length - 1)));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            method: req.method,
            path: req.url?.split('?')[0],
            query: {},
            headers: [],
            body: { size: 0, encoding: 'utf8', data: '' },
            connection: { id: 1, request: 1 },
          }),
        );
      });
    });
    wss = new WebSocketServer({ server: wrong });
    wss.on('connection', (ws) =>
      ws.on('message', (data: Buffer, binary: boolean) => {
        const copy = Buffer.from(data);
        if (binary) copy[copy.length - 1] = (copy.at(-1) ?? 0) ^ 1;
        ws.send(copy, { binary: true });
      }),
    );
    wrong.listen(0, HOST);
    await once(wrong, 'listening');
    target = `${HOST}:${(wrong.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const client of wss.clients) client.terminate();
    wss.close();
    wrong.closeAllConnections();
    await new Promise((resolve) => wrong.close(resolve));
  });

  it(
    'check fails http-json, http-keep-alive, the raw cases with the byte that differs, and ws-binary',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const web = await check([`http://${target}/`]);
      assert.equal(web.code, 1);
      const byName = Object.fromEntries(web.result.cases.map((c) => [c.name, c]));
      assert.equal(byName['http-json']?.status, 'fail');
      assert.match(byName['http-json']?.reason ?? '', /query|header|body/);
      assert.match(byName['http-keep-alive']?.reason ?? '', /request numbers on the connection: 1, 1, 1/);
      assert.equal(byName['http-raw']?.status, 'fail');
      assert.equal(byName['http-raw']?.difference?.offset, 1023);
      const ws = await check(['--cases', 'ws-text,ws-binary', `ws://${target}/`]);
      assert.deepEqual(statuses(ws.result), { 'ws-text': 'fail', 'ws-binary': 'fail' });
      assert.match(ws.result.cases[0]?.reason ?? '', /the text message came back as binary/);
      assert.equal(ws.result.cases[1]?.difference?.offset, 1023);
    },
  );

  it('bench counts every bad echo and exits 1', { timeout: TEST_TIMEOUT_MS }, async () => {
    const http = await bench(['-c', '1', '-t', '0.3', '-w', '0', `http://${target}/`]);
    assert.equal(http.code, 1);
    assert.ok(http.result.errors.truncated > 0);
    assert.equal(http.result.msgs, 0);
    const ws = await bench(['-c', '1', '-n', '20', '-t', '1', '-w', '0', `ws://${target}/`]);
    assert.equal(ws.code, 1);
    assert.ok(ws.result.errors.mismatch > 0);
  });
});
