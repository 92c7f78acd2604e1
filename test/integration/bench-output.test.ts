// `echod bench`'s output beyond the summary's figures: the latency distribution table (wrk
// --latency's rows), "-" rather than 0 µs when nothing was measured, per-second intervals as
// JSON lines and CSV rows that add up to the run, and connection-rate mode's connections.
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { createEchoServer, type EchoServer } from '../../src/server/server.js';
import { benchMain, type BenchResult } from '../../src/tools/bench.js';
import { captureIo } from '../../testkit/tool-io.js';

const TEST_TIMEOUT_MS = 30_000;
const LATENCY_ROW = /^ +(50%|75%|90%|99%|99\.9%|max) +(\S+)$/;

/** `--interval-format json --json` output: one JSON row per interval, then the summary. */
function intervalRowsAndSummary(stdout: string): { rows: Record<string, unknown>[]; summary: BenchResult } {
  const rows = stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  const summary = rows.pop() as unknown as BenchResult;
  return { rows, summary };
}

describe('echod bench output', () => {
  let server: EchoServer | undefined;
  let silent: Server | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await new Promise<void>((resolve) => (silent === undefined ? resolve() : silent.close(() => resolve())));
    silent = undefined;
  });

  async function start(): Promise<number> {
    server = createEchoServer({ host: '127.0.0.1', port: 0 });
    return (await server.listen()).port;
  }

  it('the summary has a latency distribution: 50% 75% 90% 99% 99.9% max, in order', { timeout: TEST_TIMEOUT_MS }, async () => {
    const port = await start();
    const captured = captureIo();
    assert.equal(await benchMain([`127.0.0.1:${port}`, '-n', '2000', '-c', '2', '-w', '0'], captured.io), 0);
    const rows = captured
      .stdout()
      .split('\n')
      .map((line) => LATENCY_ROW.exec(line))
      .filter((match) => match !== null);
    assert.deepEqual(
      rows.map((match) => match[1]),
      ['50%', '75%', '90%', '99%', '99.9%', 'max'],
    );
    for (const match of rows) assert.match(match[2] ?? '', /^[\d.]+(µs|ms|s)$/);
    assert.match(captured.stdout(), /latency +distribution over 2,000 messages/);
  });

  it('one message: "1 message echoed", and "1 message" in the latency line', { timeout: TEST_TIMEOUT_MS }, async () => {
    const port = await start();
    const captured = captureIo();
    assert.equal(await benchMain([`127.0.0.1:${port}`, '-n', '1', '-c', '1', '-w', '0'], captured.io), 0);
    assert.match(captured.stdout(), /measured +[\d.]+ s: 1 message echoed and checked \(1 sent\)/);
    assert.match(captured.stdout(), /distribution over 1 message,/);
  });

  it('a run that measured nothing shows "-" for every latency, never 0µs', { timeout: TEST_TIMEOUT_MS }, async () => {
    // Accepts and never answers.
    const sockets = new Set<Socket>();
    silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent?.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    assert.ok(address !== null && typeof address === 'object');
    const captured = captureIo();
    const code = await benchMain([`127.0.0.1:${address.port}`, '-t', '300ms', '-w', '0', '-c', '1', '--timeout', '200ms'], captured.io);
    for (const socket of sockets) socket.destroy();
    assert.equal(code, 1);
    const text = captured.stdout();
    assert.doesNotMatch(text, /0µs/);
    const rows = text.split('\n').filter((line) => LATENCY_ROW.test(line));
    assert.equal(rows.length, 6);
    for (const line of rows) assert.match(line, / -$/);
  });

  it(
    '--interval-format json: one JSON line a second, adding up to the run; the --json summary last',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const port = await start();
      const captured = captureIo();
      assert.equal(
        await benchMain([`127.0.0.1:${port}`, '-t', '2200ms', '-w', '0', '-c', '2', '--interval-format', 'json', '--json'], captured.io),
        0,
      );
      const { rows: lines, summary } = intervalRowsAndSummary(captured.stdout());
      assert.ok(lines.length >= 3, `two whole seconds and what was left: ${lines.length}`);
      let msgs = 0;
      for (const row of lines) {
        assert.equal(row.type, 'interval');
        assert.equal(row.phase, 'measure');
        assert.ok(typeof row.endS === 'number' && typeof row.startS === 'number' && row.endS > row.startS);
        msgs += row.msgs as number;
      }
      assert.equal(msgs, summary.msgs, 'the intervals add up to the messages measured');
      assert.equal(captured.stderr().includes('echod bench 127.0.0.1'), false, 'the header is not printed with --json');
    },
  );

  for (const threads of ['1', '2']) {
    it(
      `after a warm-up (--threads ${threads}): a phase change closes its row, so the measure rows add up to exactly the summary's messages`,
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const port = await start();
        const captured = captureIo();
        const args = [`127.0.0.1:${port}`, '-w', '1', '-t', '2', '-c', '2', '--threads', threads, '--interval-format', 'json', '--json'];
        assert.equal(await benchMain(args, captured.io), 0);
        const { rows: lines, summary } = intervalRowsAndSummary(captured.stdout());
        const phases = lines.map((row) => row.phase);
        const firstMeasure = phases.indexOf('measure');
        assert.ok(firstMeasure > 0, `warm-up rows, then measure rows: ${phases.join(' ')}`);
        assert.ok(
          phases.slice(firstMeasure).every((phase) => phase === 'measure'),
          phases.join(' '),
        );
        const warmup = lines.slice(0, firstMeasure);
        const measure = lines.slice(firstMeasure);
        for (const row of warmup) assert.equal(row.latencyUs, null, 'no latency in a warm-up row');
        // The first measure row starts where the warm-up ended (it started at 0.001 s when it took the warm-up's last second).
        assert.ok((measure[0]?.startS as number) >= 0.95, JSON.stringify(measure[0]));
        const lastWarmup = warmup.at(-1) as Record<string, unknown>;
        assert.ok(Math.abs((lastWarmup.endS as number) - (measure[0]?.startS as number)) < 0.05, JSON.stringify([lastWarmup, measure[0]]));
        const measured = measure.reduce((sum, row) => sum + (row.msgs as number), 0);
        assert.equal(measured, summary.msgs, 'the measure rows add up to the messages measured');
      },
    );
  }

  it('the live line of the last warm-up second says warm-up, with no p99', { timeout: TEST_TIMEOUT_MS }, async () => {
    const port = await start();
    const captured = captureIo(true);
    assert.equal(await benchMain([`127.0.0.1:${port}`, '-w', '2', '-t', '1', '-c', '2'], captured.io), 0);
    const lines = captured.stdout().split('\r\x1b[2K');
    const second = (s: number): string[] => lines.filter((line) => new RegExp(`^ +${s}s `).test(line));
    assert.ok(second(2).length >= 1, 'a line at 2 s');
    for (const line of second(2)) assert.match(line, /^ +2s {2}warm-up {4} .* p99 +- /);
    assert.ok(second(3).some((line) => /^ +3s {2}measuring .* p99 +[\d.]+(µs|ms) /.test(line)));
  });

  it('--interval-format csv: a header row, then rows that parse and add up; the rest on stderr', { timeout: TEST_TIMEOUT_MS }, async () => {
    const port = await start();
    const captured = captureIo();
    assert.equal(await benchMain([`127.0.0.1:${port}`, '-t', '1500ms', '-w', '0', '-c', '2', '--interval-format', 'csv'], captured.io), 0);
    const [header, ...rows] = captured.stdout().trim().split('\n');
    const columns = (header ?? '').split(',');
    assert.deepEqual(columns.slice(0, 4), ['start_s', 'end_s', 'phase', 'msgs']);
    assert.ok(rows.length >= 2);
    let msgs = 0;
    for (const line of rows) {
      const cells = line.split(',');
      assert.equal(cells.length, columns.length, line);
      const record = Object.fromEntries(columns.map((name, i) => [name, cells[i]]));
      assert.equal(record.phase, 'measure');
      assert.ok(Number(record.p99_us) > 0 && Number(record.max_us) >= Number(record.p99_us), line);
      msgs += Number(record.msgs);
    }
    const measured = /([\d,]+) messages echoed and checked/.exec(captured.stderr());
    assert.ok(measured !== null, 'the summary went to stderr');
    assert.equal(msgs, Number((measured[1] ?? '').replaceAll(',', '')));
  });

  it(
    '--connect-rate 200/s --round-trips 3: about 200 connections a second, each 3 echoes, then closed',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const port = await start();
      const captured = captureIo();
      const code = await benchMain(
        [`127.0.0.1:${port}`, '--connect-rate', '200/s', '--round-trips', '3', '-t', '1', '-w', '0', '-c', '20', '--json'],
        captured.io,
      );
      assert.equal(code, 0, captured.stdout());
      const result = JSON.parse(captured.stdout()) as BenchResult;
      assert.equal(result.connectRate, 200);
      assert.equal(result.roundTrips, 3);
      assert.ok(result.connects >= 150 && result.connects <= 205, `about 200 in 1 s: ${result.connects}`);
      assert.ok(
        result.msgs >= result.connects * 3 && result.msgs <= (result.connects + 20) * 3,
        `3 echoes per connection: ${result.msgs} for ${result.connects}`,
      );
      const stats = server?.stats;
      assert.ok(stats !== undefined);
      // The server saw each connection (and the probe that checked the target first); all closed.
      assert.ok(
        stats.connections.total >= result.connects + 1 && stats.connections.total <= result.connects + 1 + 20,
        `server: ${stats.connections.total}, bench: ${result.connects}`,
      );
    },
  );

  it('--connect-rate is refused where it cannot apply', async () => {
    for (const args of [
      ['--connect-rate', '10', '--rate', '10'],
      ['--connect-rate', '10', '--udp'],
      ['--round-trips', '3'],
      ['--connect-rate', '10', '--digest', 'crc32c'],
    ]) {
      const captured = captureIo();
      assert.equal(await benchMain(args, captured.io), 2, args.join(' '));
      assert.match(captured.stderr(), /^echod bench: .*(--connect-rate|--round-trips).*\nTry 'echod bench --help'/);
    }
  });
});
