// `echod bench` end to end, short runs on loopback: against echod every echoed byte matches and
// the figures add up; against faulty servers the errors are counted by kind and the exit code is
// 1; open loop, threads, UDP, TLS and the histogram log each work.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { createEchoServer, type EchoServer } from '../../src/server/server.js';
import { BENCH_FLAGS, benchHelp, benchMain, type BenchResult } from '../../src/tools/bench.js';
import { ERROR_KINDS } from '../../src/tools/bench.js';
import { startFaultyServer, startTlsEchoServer, startUdpEchoServer, TEST_TLS_CERT, type TestServer } from '../../testkit/faulty-servers.js';
import { histogramLogTotals } from '../../testkit/histogram-log.js';
import { captureIo, runJson } from '../../testkit/tool-io.js';

const TEST_TIMEOUT_MS = 30_000;

const bench = (args: readonly string[]): Promise<{ code: number; result: BenchResult; stderr: string }> =>
  runJson<BenchResult>(benchMain, args);

/** The figures of a clean run agree with each other. */
function assertConsistent(result: BenchResult): void {
  assert.equal(result.ok, true);
  assert.equal(result.failures, 0);
  for (const kind of ERROR_KINDS) assert.equal(result.errors[kind], 0, kind);
  assert.ok(result.msgs > 0);
  assert.equal(result.latencyUs.count, result.msgs, 'one latency per measured message');
  assert.equal(result.bytes, result.msgs * result.size);
  assert.ok(result.sent >= result.msgs);
  assert.ok(result.elapsedS > 0);
  assert.ok(Math.abs(result.msgsPerSec - result.msgs / result.elapsedS) <= 1 + result.msgsPerSec * 0.01);
  assert.ok(Math.abs(result.mbPerSec - (result.msgsPerSec * result.size) / 1e6) < 0.01 + result.mbPerSec * 0.01);
  const lat = result.latencyUs;
  assert.ok(
    lat.min <= lat.p50 && lat.p50 <= lat.p90 && lat.p90 <= lat.p99 && lat.p99 <= lat.p999 && lat.p999 <= lat.max,
    JSON.stringify(lat),
  );
  assert.ok(lat.max > 0);
}

describe('echod bench against echod', () => {
  let server: EchoServer | undefined;
  afterEach(() => server?.close());

  async function start(mode: 'line' | 'raw' = 'line'): Promise<number> {
    server = createEchoServer({ host: '127.0.0.1', port: 0, mode });
    return (await server.listen()).port;
  }

  it('--count: exactly that many messages measured, no errors, figures consistent', { timeout: TEST_TIMEOUT_MS }, async () => {
    const port = await start();
    const { code, result } = await bench([`127.0.0.1:${port}`, '--count', '3000', '--connections', '4', '--warmup', '0']);
    assert.equal(code, 0);
    assertConsistent(result);
    assert.equal(result.count, 3000);
    assert.equal(result.msgs, 3000);
    assert.equal(result.connections, 4);
    assert.equal(result.loop, 'closed');
    assert.ok(server?.stats.lines !== undefined && server.stats.lines >= 3000, 'the server saw every line');
  });

  it('pipelined (--depth 16) bigger messages, and raw mode against a raw server', { timeout: TEST_TIMEOUT_MS }, async () => {
    let port = await start();
    const piped = await bench([`127.0.0.1:${port}`, '-n', '5000', '-c', '3', '-d', '16', '-s', '1000', '-w', '0']);
    assert.equal(piped.code, 0);
    assertConsistent(piped.result);
    assert.equal(piped.result.msgs, 5000);
    await server?.close();
    port = await start('raw');
    const raw = await bench([`127.0.0.1:${port}`, '--mode', 'raw', '-n', '2000', '-c', '2', '-d', '4', '-s', '300', '-w', '0']);
    assert.equal(raw.code, 0);
    assertConsistent(raw.result);
  });

  it('--duration with --warmup: a timed window, warm-up not counted', { timeout: TEST_TIMEOUT_MS }, async () => {
    const port = await start();
    const { code, result } = await bench([`127.0.0.1:${port}`, '--duration', '600ms', '--warmup', '200ms', '-c', '4']);
    assert.equal(code, 0);
    assertConsistent(result);
    assert.ok(result.elapsedS >= 0.55 && result.elapsedS < 1.5, String(result.elapsedS));
    assert.ok(result.sent > result.msgs, 'messages of the warm-up were sent but not measured');
  });

  it('--threads 2: the connections are shared by two worker threads, the figures added up', { timeout: TEST_TIMEOUT_MS }, async () => {
    const port = await start();
    const { code, result } = await bench([`127.0.0.1:${port}`, '--threads', '2', '-c', '4', '-n', '4001', '-w', '0']);
    assert.equal(code, 0);
    assertConsistent(result);
    assert.equal(result.msgs, 4001);
    assert.equal(result.threads, 2);
  });

  it('--rate: open loop at the asked rate, latency from the intended send times', { timeout: TEST_TIMEOUT_MS }, async () => {
    const port = await start();
    const { code, result } = await bench([`127.0.0.1:${port}`, '--rate', '2000/s', '--duration', '1', '--warmup', '0', '-c', '4']);
    assert.equal(code, 0);
    assertConsistent(result);
    assert.equal(result.loop, 'open');
    assert.equal(result.rate, 2000);
    assert.ok(result.msgs >= 1500 && result.msgs <= 2100, `about 2000 messages in 1 s: ${result.msgs}`);
    assert.ok(result.maxSendLagMs !== null && result.maxSendLagMs >= 0);
  });

  it('--histogram FILE: an HdrHistogram log whose intervals add up to the messages measured', { timeout: TEST_TIMEOUT_MS }, async () => {
    const port = await start();
    const dir = mkdtempSync(join(tmpdir(), 'echod-bench-'));
    try {
      const file = join(dir, 'latency.hlog');
      const { code, result } = await bench([`127.0.0.1:${port}`, '--duration', '1500ms', '-w', '0', '-c', '2', '--histogram', file]);
      assert.equal(code, 0);
      const text = readFileSync(file, 'utf8');
      assert.match(text, /^#\[Histogram log format version 1\.3\]/);
      const { intervals, total } = histogramLogTotals(text);
      assert.ok(intervals >= 2, `one interval per second at least: ${intervals}`);
      assert.equal(total, result.msgs);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('on a terminal: a live line each second, then the summary table', { timeout: TEST_TIMEOUT_MS }, async () => {
    const port = await start();
    const captured = captureIo(true);
    const code = await benchMain([`127.0.0.1:${port}`, '--duration', '1200ms', '-w', '0', '-c', '2'], captured.io);
    assert.equal(code, 0);
    const text = captured.stdout();
    // eslint-disable-next-line no-control-regex -- the live line redraws with ESC [2K
    assert.match(text, /\r\x1b\[2K +\d+s {2}measuring +[\d,]+ msg\/s +[\d.]+ MB\/s {2}p99 +[\d.]+(µs|ms) {2}errors 0 {2}open 2/);
    assert.match(text, /msgs\/s +MB\/s\n +[\d,]+ +[\d.]+\n/);
    assert.match(text, /latency +distribution over [\d,]+ messages/);
    assert.match(text, /verdict +OK: every echoed byte matched/);
  });

  it('not on a terminal: no live line', { timeout: TEST_TIMEOUT_MS }, async () => {
    const port = await start();
    const captured = captureIo(false);
    assert.equal(await benchMain([`127.0.0.1:${port}`, '--duration', '1100ms', '-w', '0', '-c', '1'], captured.io), 0);
    assert.ok(!captured.stdout().includes('\r'));
  });
});

describe('echod bench against faulty servers', () => {
  let server: TestServer | undefined;
  afterEach(() => server?.close());

  it('a dropped byte: mismatches counted and described, exit 1', { timeout: TEST_TIMEOUT_MS }, async () => {
    server = await startFaultyServer({ kind: 'drop-byte-at', offset: 1000 });
    const { code, result } = await bench([`127.0.0.1:${server.port}`, '--duration', '500ms', '-w', '0', '-c', '2', '-s', '100']);
    assert.equal(code, 1);
    assert.equal(result.ok, false);
    assert.ok(result.errors.mismatch >= 2, `every connection (and each reconnection) hits it: ${result.errors.mismatch}`);
    assert.ok(result.reconnects >= 1);
    const sample = result.errorSamples.find((s) => s.kind === 'mismatch');
    assert.ok(sample?.difference, 'the first mismatch is described');
    // Byte 1000 is message 10's first; its other zero digits shift into place, until byte 10.
    assert.match(sample.message, /connection \d, message 10: byte 10 of 100 differs: expected "0", got "a"/);
  });

  it('a server that closes early: truncations counted, exit 1', { timeout: TEST_TIMEOUT_MS }, async () => {
    server = await startFaultyServer({ kind: 'close-after', ms: 100 });
    const { code, result } = await bench([`127.0.0.1:${server.port}`, '--duration', '500ms', '-w', '0', '-c', '2']);
    assert.equal(code, 1);
    assert.ok(result.errors.truncated >= 2, JSON.stringify(result.errors));
    assert.match(result.errorSamples[0]?.message ?? '', /the server closed/);
  });

  it('a server that stops answering: a --count run ends (stalled) with timeouts, exit 1', { timeout: TEST_TIMEOUT_MS }, async () => {
    server = await startFaultyServer({ kind: 'no-reassembly' });
    // Messages split across reads are lost for good: the connection hangs, then times out.
    const { code, result } = await bench([
      `127.0.0.1:${server.port}`,
      '-n',
      '1000000',
      '-w',
      '0',
      '-c',
      '1',
      '-d',
      '64',
      '-s',
      '5000',
      '--timeout',
      '300ms',
    ]);
    assert.equal(code, 1);
    assert.ok(result.errors.timeout >= 1 || result.errors.mismatch >= 1, JSON.stringify(result.errors));
  });

  it('nothing listening: exit 1 with the reason, before any load', { timeout: TEST_TIMEOUT_MS }, async () => {
    server = await startFaultyServer({ kind: 'none' });
    const port = server.port;
    await server.close();
    const { code, result } = await bench([`127.0.0.1:${port}`, '-n', '10']);
    assert.equal(code, 1);
    assert.equal(result.ok, false);
    assert.match(
      result.error ?? '',
      /^cannot connect to 127\.0\.0\.1:\d+: connection refused \(ECONNREFUSED\): nothing listens on that port$/,
    );
  });
});

describe('echod bench over UDP and TLS', () => {
  let server: TestServer | undefined;
  afterEach(() => server?.close());

  it('--udp: datagrams echoed and checked', { timeout: TEST_TIMEOUT_MS }, async () => {
    server = await startUdpEchoServer();
    const { code, result } = await bench([`127.0.0.1:${server.port}`, '--udp', '-n', '2000', '-c', '2', '-d', '4', '-w', '0']);
    assert.equal(code, 0);
    assertConsistent(result);
    assert.equal(result.transport, 'udp');
  });

  it('--udp: a corrupted datagram is a mismatch, exit 1', { timeout: TEST_TIMEOUT_MS }, async () => {
    server = await startUdpEchoServer({ kind: 'corrupt-every', n: 100 });
    const { code, result } = await bench([`127.0.0.1:${server.port}`, '--udp', '-n', '1000', '-c', '1', '-w', '0']);
    assert.equal(code, 1);
    assert.ok(result.errors.mismatch >= 9, JSON.stringify(result.errors));
  });

  describe('--tls', () => {
    let dir = '';
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'echod-bench-'));
      writeFileSync(join(dir, 'ca.pem'), TEST_TLS_CERT);
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('with the CA: every echoed byte checked; without: exit 1 naming the certificate problem', { timeout: TEST_TIMEOUT_MS }, async () => {
      server = await startTlsEchoServer();
      const trusted = await bench([
        `localhost:${server.port}`,
        '--tls',
        '--tls-ca',
        join(dir, 'ca.pem'),
        '-n',
        '2000',
        '-c',
        '2',
        '-w',
        '0',
      ]);
      assert.equal(trusted.code, 0);
      assertConsistent(trusted.result);
      assert.equal(trusted.result.transport, 'tls');
      const refused = await bench([`127.0.0.1:${server.port}`, '--tls', '-n', '10']);
      assert.equal(refused.code, 1);
      assert.match(refused.result.error ?? '', /SELF_SIGNED/);
    });
  });
});

describe('echod bench command line', () => {
  it('--help explains every flag', async () => {
    const captured = captureIo();
    assert.equal(await benchMain(['--help'], captured.io), 0);
    const help = captured.stdout();
    assert.equal(help, `${benchHelp()}\n`);
    for (const flag of BENCH_FLAGS) assert.ok(help.includes(`--${flag.name}`), `--help mentions --${flag.name}`);
    for (const kind of ERROR_KINDS) assert.ok(help.includes(kind), `--help explains ${kind}`);
  });

  it("a mistyped flag: one line naming it and the nearest flag, not node:util's text", async () => {
    const cases: [string[], string][] = [
      [['--conections', '8'], 'unknown option --conections (did you mean --connections?)'],
      [['--tls-insecur'], 'unknown option --tls-insecur (did you mean --tls-insecure?)'],
      [['--warmpu', '0'], 'unknown option --warmpu (did you mean --warmup?)'],
      [['--frobnicate'], 'unknown option --frobnicate'],
      [['-x'], 'unknown option -x'],
      [['--size'], '--size needs a value: --size SIZE'],
      [['-c'], '-c (--connections) needs a value: -c N'],
      [['--json=yes'], '--json takes no value: write it alone'],
    ];
    for (const [args, message] of cases) {
      const captured = captureIo();
      assert.equal(await benchMain(args, captured.io), 2, args.join(' '));
      assert.equal(captured.stderr(), `echod bench: ${message}\nTry 'echod bench --help' for the list of flags.\n`);
    }
  });

  it('bad values exit 2 before any load, naming the flag', async () => {
    for (const args of [
      ['--size', '0'],
      ['--connections', '0'],
      ['--rate', 'fast'],
      ['--duration', '0'],
      ['--udp', '--size', '8'],
      ['--threads', '3', '-c', '2'],
      ['-c', '100000', '-d', '1000', '-s', '1MiB'],
      ['x', 'y'],
      ['--tls-ca', '/nonexistent'],
    ]) {
      const captured = captureIo();
      assert.equal(await benchMain(args, captured.io), 2, args.join(' '));
      assert.match(captured.stderr(), /^echod bench: .*\nTry 'echod bench --help'/);
    }
  });
});
