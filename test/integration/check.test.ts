// `echod check` end to end: the suite passes echod itself (line and raw mode), a UDP echo and a
// TLS echo; and each deliberately faulty server makes the case that tests its fault FAIL with a
// reason that names it — so every required case is shown able to fail.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { createEchoServer, type EchoServer } from '../../src/server/server.js';
import { CHECK_FLAGS, checkHelp, checkMain, type CheckResult } from '../../src/tools/check.js';
import {
  type DatagramFault,
  type Fault,
  startFaultyServer,
  startTlsEchoServer,
  startUdpEchoServer,
  TEST_TLS_CERT,
  type TestServer,
} from '../../testkit/faulty-servers.js';
import { captureIo, runJson } from '../../testkit/tool-io.js';

const TEST_TIMEOUT_MS = 30_000;
/** Short waits keep the suite quick; the servers here answer in microseconds. */
const FAST = ['--idle', '300ms', '--timeout', '2s'];

const check = (args: readonly string[]): Promise<{ code: number; result: CheckResult; stderr: string }> =>
  runJson<CheckResult>(checkMain, args);

function statusOf(result: CheckResult, name: string): string {
  const found = result.cases.find((c) => c.name === name);
  assert.ok(found, `case ${name} ran`);
  return found.status;
}

describe('echod check against echod', () => {
  let server: EchoServer | undefined;
  afterEach(() => server?.close());

  it('line mode: every required case passes; the two policy cases are NOTEs', { timeout: TEST_TIMEOUT_MS }, async () => {
    server = createEchoServer({ host: '127.0.0.1', port: 0 });
    const { port } = await server.listen();
    const { code, result } = await check([`127.0.0.1:${port}`, ...FAST]);
    assert.equal(code, 0, JSON.stringify(result.cases.filter((c) => c.status === 'fail')));
    assert.equal(result.failed, 0);
    assert.deepEqual(
      result.cases.map((c) => c.name),
      [
        'single-line',
        'many-lines',
        'split-writes',
        'binary',
        'max-line',
        'half-close',
        'half-close-tail',
        'concurrent',
        'slow-reader',
        'idle',
      ],
    );
    assert.deepEqual(
      result.cases.filter((c) => c.status === 'note').map((c) => c.name),
      ['max-line', 'half-close-tail'],
    );
    const tail = result.cases.find((c) => c.name === 'half-close-tail');
    assert.match(tail?.reason ?? '', /tail was echoed/);
    assert.ok(result.cases.filter((c) => c.required).every((c) => c.status === 'pass'));
  });

  it('raw mode: every case is required and passes, bytes without a newline included', { timeout: TEST_TIMEOUT_MS }, async () => {
    server = createEchoServer({ host: '127.0.0.1', port: 0, mode: 'raw' });
    const { port } = await server.listen();
    const { code, result } = await check([`127.0.0.1:${port}`, '--mode', 'raw', ...FAST]);
    assert.equal(code, 0, JSON.stringify(result.cases.filter((c) => c.status !== 'pass')));
    assert.equal(result.passed, result.cases.length);
    assert.ok(result.cases.some((c) => c.name === 'no-newline'));
    assert.ok(result.cases.every((c) => c.required));
  });

  it('prints one PASS/FAIL/NOTE row per case and a verdict line', { timeout: TEST_TIMEOUT_MS }, async () => {
    server = createEchoServer({ host: '127.0.0.1', port: 0 });
    const { port } = await server.listen();
    const captured = captureIo();
    const code = await checkMain([String(port), '--cases', 'single-line,half-close-tail'], captured.io);
    assert.equal(code, 0);
    const text = captured.stdout();
    assert.match(text, /PASS {2}single-line/);
    assert.match(text, /NOTE {2}half-close-tail/);
    assert.match(text, /1 passed, 0 failed, 1 observation \(NOTE\): OK/);
  });

  it('a line longer than the server allows is a NOTE, not a FAIL', { timeout: TEST_TIMEOUT_MS }, async () => {
    server = createEchoServer({ host: '127.0.0.1', port: 0, maxLineBytes: 1024 });
    const { port } = await server.listen();
    const { code, result } = await check([`127.0.0.1:${port}`, '--cases', 'max-line', ...FAST]);
    assert.equal(code, 0);
    assert.equal(statusOf(result, 'max-line'), 'note');
    assert.match(result.cases[0]?.reason ?? '', /past this server's limit: nothing came back, then the server closed the connection/);
  });
});

/** Each fault, the case it must make FAIL, and what the reason must say. */
const FAULTS: { fault: Fault; mode?: 'raw'; failing: string; reason: RegExp; extra?: string[] }[] = [
  {
    fault: { kind: 'drop-byte-at', offset: 5 },
    failing: 'single-line',
    reason: /byte 5 differs \(line 1, column 6\): expected " ", got "f"/,
  },
  { fault: { kind: 'reorder-lines' }, failing: 'many-lines', reason: /byte 0 differs \(line 1, column 1\)|line 1/ },
  { fault: { kind: 'no-reassembly' }, failing: 'split-writes', reason: /byte 0 differs \(line 1, column 1\): expected "t", got "\\n"/ },
  { fault: { kind: 'drop-byte-value', value: 0x00 }, failing: 'binary', reason: /differs \(line 4, column 1\): expected "\\0"/ },
  {
    fault: { kind: 'truncate-at-half-close' },
    failing: 'half-close',
    reason: /lines sent before the half-close were lost: got 0 of [\d,]+ bytes, then the connection was reset|then the server closed/,
  },
  { fault: { kind: 'max-connections', max: 50 }, failing: 'concurrent', reason: /with 48 connections open, connection (49|50|51|52)/ },
  {
    fault: { kind: 'drop-when-backlogged', bytes: 64 * 1024 },
    failing: 'slow-reader',
    reason: /reading slowly: got [\d,]+ of 8,388,608 bytes|reading slowly: byte [\d,]+ differs/,
  },
  {
    fault: { kind: 'close-after', ms: 400 },
    failing: 'idle',
    reason: /after 0\.\d+ s idle, the server closed the connection/,
    extra: ['--idle', '2s', '--timeout', '2s'],
  },
  { fault: { kind: 'none' }, mode: 'raw', failing: 'no-newline', reason: /got 0 of 25 bytes, then nothing more within 2 s/ },
  { fault: { kind: 'no-reassembly' }, mode: 'raw', failing: 'half-close-tail', reason: /tail was not echoed|got 0 of/ },
  {
    fault: { kind: 'line-limit', bytes: 1024 },
    mode: 'raw',
    failing: 'max-line',
    reason: /got 0 of 65,536 bytes, then the server closed the connection/,
  },
];

describe('echod check against faulty servers', () => {
  let server: TestServer | undefined;
  afterEach(() => server?.close());

  for (const { fault, mode, failing, reason, extra } of FAULTS) {
    it(
      `${fault.kind}${mode !== undefined ? ` (--mode ${mode})` : ''}: ${failing} FAILs with the reason`,
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        server = await startFaultyServer(fault);
        const { code, result } = await check([
          `127.0.0.1:${server.port}`,
          '--cases',
          failing,
          ...(mode !== undefined ? ['--mode', mode] : []),
          ...(extra ?? FAST),
        ]);
        assert.equal(code, 1);
        const found = result.cases[0];
        assert.equal(found?.status, 'fail');
        assert.match(found.reason, reason);
      },
    );
  }

  it('every required case is shown able to fail', () => {
    const shown = new Set(FAULTS.map((f) => f.failing));
    for (const name of [
      'single-line',
      'many-lines',
      'split-writes',
      'binary',
      'half-close',
      'concurrent',
      'slow-reader',
      'idle',
      'no-newline',
    ]) {
      assert.ok(shown.has(name), `a fault makes ${name} fail`);
    }
  });

  it('the whole suite against a reordering server fails only where lines share a read', { timeout: TEST_TIMEOUT_MS }, async () => {
    server = await startFaultyServer({ kind: 'reorder-lines' });
    const { code, result } = await check([`127.0.0.1:${server.port}`, ...FAST]);
    assert.equal(code, 1);
    assert.equal(statusOf(result, 'single-line'), 'pass');
    assert.equal(statusOf(result, 'split-writes'), 'pass');
    assert.equal(statusOf(result, 'many-lines'), 'fail');
    const many = result.cases.find((c) => c.name === 'many-lines');
    assert.ok(many?.difference, 'the difference is reported');
    assert.match(many.difference.expected, /line 1 of 1000/);
    assert.match(many.difference.got, /line 2 of 1000/);
  });

  it('a dropped byte is shown with its offset and both versions escaped, in the table', { timeout: TEST_TIMEOUT_MS }, async () => {
    server = await startFaultyServer({ kind: 'drop-byte-value', value: 0x0d });
    const captured = captureIo();
    const code = await checkMain([`127.0.0.1:${server.port}`, '--cases', 'binary', '--timeout', '1s'], captured.io);
    assert.equal(code, 1);
    const text = captured.stdout();
    assert.match(text, /FAIL {2}binary/);
    assert.match(text, /byte 9 differs \(line 1, column 10\): expected "\\r", got "\\n"/);
    assert.match(text, /expected "crlf line\\r\\n\\r\\ncarriage\\r/);
    assert.match(text, /got {6}"crlf line\\n\\ncarriage/);
  });

  it('a server that is not there: the first case fails with the reason, the rest are not run', { timeout: TEST_TIMEOUT_MS }, async () => {
    server = await startFaultyServer({ kind: 'none' });
    const port = server.port;
    await server.close();
    const { code, result } = await check([`127.0.0.1:${port}`, '--cases', 'single-line,idle']);
    assert.equal(code, 1);
    assert.equal(result.failed, 1);
    assert.deepEqual(result.notRun, ['idle']);
    assert.match(result.cases[0]?.reason ?? '', /cannot connect: connection refused \(ECONNREFUSED\)/);
  });
});

describe('echod check over UDP and TLS', () => {
  let server: TestServer | undefined;
  afterEach(() => server?.close());

  it('--udp: a correct UDP echo passes every datagram case', { timeout: TEST_TIMEOUT_MS }, async () => {
    server = await startUdpEchoServer();
    const { code, result } = await check([`127.0.0.1:${server.port}`, '--udp', ...FAST]);
    assert.equal(code, 0, JSON.stringify(result.cases.filter((c) => c.status === 'fail')));
    assert.deepEqual(
      result.cases.map((c) => c.name),
      [
        'datagram-1',
        'datagram-64',
        'datagram-512',
        'datagram-1472',
        'datagram-binary',
        'datagram-burst',
        'datagram-8192',
        'datagram-65507',
      ],
    );
  });

  const udpFaults: { fault: DatagramFault; failing: string; reason: RegExp }[] = [
    { fault: { kind: 'truncate-above', bytes: 1000 }, failing: 'datagram-1472', reason: /a 1,472-byte datagram came back as 1,000 bytes/ },
    { fault: { kind: 'corrupt-every', n: 1 }, failing: 'datagram-64', reason: /byte 62 differs/ },
    { fault: { kind: 'silent' }, failing: 'datagram-1', reason: /no echo of a 1-byte datagram \(sent 2 times/ },
  ];
  for (const { fault, failing, reason } of udpFaults) {
    it(`--udp, ${fault.kind}: ${failing} FAILs`, { timeout: TEST_TIMEOUT_MS }, async () => {
      server = await startUdpEchoServer(fault);
      const { code, result } = await check([`127.0.0.1:${server.port}`, '--udp', '--cases', failing, '--timeout', '300ms']);
      assert.equal(code, 1);
      assert.match(result.cases[0]?.reason ?? '', reason);
    });
  }

  it('--udp: datagrams cut by a small server buffer are a NOTE for the big sizes', { timeout: TEST_TIMEOUT_MS }, async () => {
    server = await startUdpEchoServer({ kind: 'truncate-above', bytes: 8192 });
    const { code, result } = await check([`127.0.0.1:${server.port}`, '--udp', '--cases', 'datagram-1472,datagram-65507']);
    assert.equal(code, 0);
    assert.equal(statusOf(result, 'datagram-65507'), 'note');
    assert.match(result.cases[1]?.reason ?? '', /cut to 8,192 bytes/);
  });

  describe('--tls', () => {
    let dir = '';
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'echod-check-'));
      writeFileSync(join(dir, 'ca.pem'), TEST_TLS_CERT);
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('trusting the CA file, a TLS echo passes', { timeout: TEST_TIMEOUT_MS }, async () => {
      server = await startTlsEchoServer();
      const { code, result } = await check([`localhost:${server.port}`, '--tls', '--tls-ca', join(dir, 'ca.pem'), ...FAST]);
      assert.equal(code, 0, JSON.stringify(result.cases.filter((c) => c.status === 'fail')));
      assert.equal(result.transport, 'tls');
    });

    it('without it, every case fails on the certificate; --tls-insecure passes', { timeout: TEST_TIMEOUT_MS }, async () => {
      server = await startTlsEchoServer();
      const refused = await check([`127.0.0.1:${server.port}`, '--tls', '--cases', 'single-line']);
      assert.equal(refused.code, 1);
      assert.match(refused.result.cases[0]?.reason ?? '', /cannot connect: (DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)/);
      const insecure = await check([`127.0.0.1:${server.port}`, '--tls', '--tls-insecure', '--cases', 'single-line,half-close']);
      assert.equal(insecure.code, 0);
    });
  });
});

describe('echod check command line', () => {
  it('--help names every flag and every case', async () => {
    const captured = captureIo();
    assert.equal(await checkMain(['--help'], captured.io), 0);
    const help = captured.stdout();
    for (const flag of CHECK_FLAGS) assert.ok(help.includes(`--${flag.name}`), `--help mentions --${flag.name}`);
    assert.ok(help.includes('half-close-tail') && help.includes('datagram-burst'));
    assert.equal(help, `${checkHelp()}\n`);
  });

  it("a mistyped flag: one line naming it and the nearest flag in check's table", async () => {
    const captured = captureIo();
    assert.equal(await checkMain(['--slow-sise', '1MiB'], captured.io), 2);
    assert.equal(
      captured.stderr(),
      "echod check: unknown option --slow-sise (did you mean --slow-size?)\nTry 'echod check --help' for the list of flags.\n",
    );
  });

  it('bad flags exit 2 with a message naming the flag', async () => {
    for (const args of [
      ['--cases', 'nope'],
      ['--idle', 'soon'],
      ['--tls-insecure'],
      ['--tls', '--udp'],
      ['a:b:c:d'],
      ['--max-size', '1'],
      ['--bogus'],
    ]) {
      const captured = captureIo();
      assert.equal(await checkMain(args, captured.io), 2, args.join(' '));
      assert.match(captured.stderr(), /^echod check: .*\nTry 'echod check --help'/);
    }
  });
});
