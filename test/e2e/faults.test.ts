// Fault injection on TCP listeners, over real loopback sockets: delay (fixed and jittered,
// order kept), chunked writes, throttling, close-after lines/bytes/time with FIN or RST,
// accept-then-hang, refusing connections, and a clean listener beside a faulty one staying
// byte-exact. Then the same faults from the `echod` command line and in --listen URLs.
// Timing faults are about time: they are measured with performance.now() against generous
// bands (this machine is small and shared), never by sleeping.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { afterEach, describe, it } from 'node:test';
import { main } from '../../src/cli/main.js';
import { InvalidOptionError } from '../../src/core/errors.js';
import type { FaultOptions } from '../../src/config/faults.js';
import { createEchoServer } from '../../src/server/server.js';
import { Client, Fixture, HOST, WAIT_MS } from '../../testkit/clients.js';
import { EchodProcess, localPort, type Runtime, RUNTIMES, START_MS, startEchod, Tracked } from '../../testkit/echod-process.js';
import { assertBetween, faultyFixture, quietFor, ReadCounter } from '../../testkit/fault-fixtures.js';

const TEST_TIMEOUT_MS = 10_000;
const CLI_TIMEOUT_MS = 20_000;
/** How far past its configured time a timed fault may fire on this noisy machine. */
const LATE_MS = 1000;
/** `--chunk 1` paces one byte per turn of the event loop: this much comes back within CHUNK_ONE_WITHIN_MS. */
const CHUNK_ONE_BYTES = 16 * 1024;
const CHUNK_ONE_WITHIN_MS = 1000;
/** How long "nothing happens" is watched for (accept-then-hang). */
const HANG_WINDOW_MS = 500;

describe('tcp faults (library)', () => {
  let fixture: Fixture | undefined;
  afterEach(async () => {
    await fixture?.cleanup();
    fixture = undefined;
  });

  async function start(faults: FaultOptions): Promise<Fixture> {
    fixture = await faultyFixture(faults);
    return fixture;
  }

  describe('delay', () => {
    it(
      'delay 150ms: the echo comes back no sooner than 150 ms after the line was sent (and within a second more)',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const echo = await start({ delayMs: [150, 150] });
        const client = await echo.connect();
        for (const line of ['first\n', 'second line\n']) {
          const sentAt = performance.now();
          await client.write(line);
          assert.equal(await client.readText(line), line);
          assertBetween(performance.now() - sentAt, 150, 150 + LATE_MS, `echo of ${JSON.stringify(line)}`);
        }
      },
    );

    it('jitter 20ms..80ms: 50 lines sent one by one come back byte-exact and in order', { timeout: TEST_TIMEOUT_MS }, async () => {
      const echo = await start({ delayMs: [20, 80] });
      const client = await echo.connect();
      const lines = Array.from({ length: 50 }, (_, i) => `line ${i} ${'x'.repeat(i)}\n`);
      const sentAt = performance.now();
      // One write each, so the server sees many chunks, each given its own random delay.
      for (const line of lines) await client.write(line);
      const expected = lines.join('');
      assert.equal(await client.readText(expected), expected);
      assertBetween(performance.now() - sentAt, 20, 80 + LATE_MS, 'the 50 jittered echoes');
    });

    it(
      'a half-close right after a delayed line still gets that line echoed before EOF',
      {
        timeout: TEST_TIMEOUT_MS,
      },
      async () => {
        const echo = await start({ delayMs: [150, 150] });
        const client = await echo.connect();
        await client.write('hello\n');
        client.end();
        assert.equal((await client.readToEnd()).toString(), 'hello\n');
      },
    );
  });

  it('chunkBytes 1: a 20-byte line arrives in many small reads, byte-exact', { timeout: TEST_TIMEOUT_MS }, async () => {
    const echo = await start({ chunkBytes: 1 });
    const client = await echo.connect();
    const reads = new ReadCounter(client);
    const line = 'abcdefghijklmnopqrs\n';
    await client.write(line);
    assert.equal(await client.readText(line), line);
    assert.ok(reads.reads > 1, `the echo came in ${reads.reads} reads (sizes ${reads.sizes.join(', ')})`);
    assert.equal(
      reads.sizes.reduce((sum, size) => sum + size, 0),
      line.length,
    );
  });

  describe('throttle', () => {
    it(
      '4KiB/s: an 8 KiB echo takes at least a second (one second of burst, then the rate) and is byte-exact',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const rate = 4096;
        const size = 8192;
        const echo = await start({ throttleBytesPerSecond: rate });
        const client = await echo.connect();
        const data = Buffer.alloc(size);
        for (let i = 0; i < size - 1; i++) data[i] = 0x20 + (i % 90);
        data[size - 1] = 0x0a;
        const sentAt = performance.now();
        await client.write(data);
        assert.ok((await client.read(size, 8000)).equals(data));
        const elapsed = performance.now() - sentAt;
        assert.ok(elapsed >= ((size - rate) / rate) * 1000 - 5, `took ${elapsed.toFixed(0)} ms`);
      },
    );

    it(
      '8KiB/s each way: a 24 KiB echo takes about 2 s, not the 5 s of both directions sharing one budget',
      {
        timeout: TEST_TIMEOUT_MS,
      },
      async () => {
        const rate = 8192;
        const size = 24 * 1024;
        const echo = await start({ throttleBytesPerSecond: rate });
        const client = await echo.connect();
        const data = Buffer.alloc(size, 0x61);
        data[size - 1] = 0x0a;
        const sentAt = performance.now();
        await client.write(data);
        assert.ok((await client.read(size, 8000)).equals(data));
        assertBetween(
          performance.now() - sentAt,
          ((size - rate) / rate) * 1000,
          ((size - rate) / rate) * 1000 + 1500,
          'the throttled 24 KiB echo',
        );
      },
    );
  });

  describe('close after', () => {
    it(
      "lines=2, closeHow 'fin': exactly two lines come back, then EOF; reason fault_close_after",
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const echo = await start({ closeAfter: { lines: 2 }, closeHow: 'fin' });
        const client = await echo.connect();
        await client.write('one\ntwo\nthree\n');
        assert.equal((await client.readToEnd()).toString(), 'one\ntwo\n');
        const [summary] = await echo.events.closed(1);
        assert.equal(summary?.reason, 'fault_close_after');
        assert.equal(echo.server.stats.connections.closed.fault_close_after, 1);
      },
    );

    it('lines=2 counts across writes: one line, then two more, gives two lines and EOF', { timeout: TEST_TIMEOUT_MS }, async () => {
      const echo = await start({ closeAfter: { lines: 2 } });
      const client = await echo.connect();
      await client.write('one\n');
      assert.equal(await client.readText('one\n'), 'one\n');
      await client.write('two\nthree\n');
      assert.equal((await client.readToEnd()).toString(), 'two\n');
    });

    it(
      'lines=2 with a partial line pending: the partial line is not echoed after the two lines',
      {
        timeout: TEST_TIMEOUT_MS,
      },
      async () => {
        const echo = await start({ closeAfter: { lines: 2 } });
        const client = await echo.connect();
        await client.write('one\ntwo\nthree\nfour');
        assert.equal((await client.readToEnd()).toString(), 'one\ntwo\n');
      },
    );

    it('bytes=10: exactly ten bytes come back, mid-line, then EOF', { timeout: TEST_TIMEOUT_MS }, async () => {
      const echo = await start({ closeAfter: { bytes: 10 } });
      const client = await echo.connect();
      await client.write('abcdefgh\nijklmnop\n');
      assert.equal((await client.readToEnd()).toString(), 'abcdefgh\ni');
      const [summary] = await echo.events.closed(1);
      assert.equal(summary?.reason, 'fault_close_after');
      assert.equal(summary?.bytesSent, 10);
    });

    it(
      'ms=300: the connection echoes until, 300 ms after it opened, the server ends it with a FIN',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const echo = await start({ closeAfter: { ms: 300 } });
        const connectAt = performance.now();
        const client = await echo.connect();
        await client.write('still open\n');
        assert.equal(await client.readText('still open\n'), 'still open\n');
        assert.equal((await client.readToEnd()).toString(), '');
        assertBetween(performance.now() - connectAt, 300, 300 + LATE_MS, 'the close after 300 ms');
        assert.equal(client.error, null, 'a graceful end');
        const [summary] = await echo.events.closed(1);
        assert.equal(summary?.reason, 'fault_close_after');
      },
    );

    it(
      "closeHow 'rst': the client sees ECONNRESET (ms=300, after its echo was read, so no data races the reset)",
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        // With lines=N the reset follows the last echo at once; libuv then reports the pair as EOF
        // (POLLHUP after a partial read), so a time limit is what lets a Node client see the RST.
        const echo = await start({ closeAfter: { ms: 300 }, closeHow: 'rst' });
        const connectAt = performance.now();
        const client = await echo.connect();
        await client.write('hello\n');
        assert.equal(await client.readText('hello\n'), 'hello\n');
        await client.waitClosed();
        assert.equal(client.error?.code, 'ECONNRESET');
        assert.equal(client.ended, false, 'no FIN came first');
        assertBetween(performance.now() - connectAt, 300, 300 + LATE_MS, 'the reset after 300 ms');
        const [summary] = await echo.events.closed(1);
        assert.equal(summary?.reason, 'fault_close_after');
      },
    );

    it(
      "lines=1, closeHow 'rst': at most the first line comes back, and the connection is reset, not half-closed",
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const echo = await start({ closeAfter: { lines: 1 }, closeHow: 'rst' });
        // Half-open allowed: after a FIN this client could keep writing; after a reset it cannot.
        const client = await echo.connect({ allowHalfOpen: true });
        await client.write('one\ntwo\n');
        // The reset follows the echo at once; a Node client may report the pair as EOF or as ECONNRESET.
        const got = await client.readToEnd().then(
          (data) => data.toString(),
          () => '',
        );
        assert.ok('one\n'.startsWith(got), `got ${JSON.stringify(got)}`);
        const written = await client
          .write('more\n')
          .then(() => client.write('more\n'))
          .then(
            () => null,
            (err: NodeJS.ErrnoException) => err.code ?? err.message,
          );
        assert.ok(
          written === 'ECONNRESET' || written === 'EPIPE' || written === 'ERR_STREAM_DESTROYED',
          `a write after the reset fails (${String(written)})`,
        );
        const [summary] = await echo.events.closed(1);
        assert.equal(summary?.reason, 'fault_close_after');
      },
    );
  });

  it(
    'acceptThenHang: the connect succeeds, nothing is echoed nor closed for 500 ms, and the server counts it open',
    {
      timeout: TEST_TIMEOUT_MS,
    },
    async () => {
      const echo = await start({ acceptThenHang: true });
      const client = await echo.connect();
      await client.write('anyone there?\n');
      assert.equal(await quietFor(client, HANG_WINDOW_MS), null, 'nothing happened');
      const { stats } = echo.server;
      assert.equal(stats.connections.active, 1);
      assert.equal(stats.bytesReceived, 0, 'not even read');
    },
  );

  it(
    'refuseRate 1: every connection is closed at once, unanswered, and counted as rejected fault_refused',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const started = await start({ refuseRate: 1 });
      const clients = await Promise.all([started.client(), started.client(), started.client()]);
      for (const client of clients) {
        await client.write('hello?\n').catch(() => {});
        await client.waitClosed();
        assert.equal(client.pendingBytes, 0, 'nothing was echoed');
      }
      await started.events.until(() => started.events.rejects.length === 3, WAIT_MS, 'three rejects');
      assert.deepEqual(started.events.rejects, ['fault_refused', 'fault_refused', 'fault_refused']);
      const { connections } = started.server.stats;
      assert.equal(connections.rejected.fault_refused, 3);
      assert.equal(connections.total, 0, 'none was served');
      assert.equal(connections.active, 0);
    },
  );

  it('a clean listener beside a faulty one on the same server stays byte-exact and open', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start({
      listeners: [
        { protocol: 'tcp', host: HOST, port: 0 },
        { protocol: 'tcp', host: HOST, port: 0, faults: { closeAfter: { lines: 1 }, chunkBytes: 3, delayMs: [10, 30] } },
      ],
    });
    const faultyAddress = fixture.server.addresses[1];
    assert.ok(faultyAddress !== undefined && 'port' in faultyAddress);
    const clean = await fixture.connect();
    const faulty = await Client.connect(faultyAddress.port);
    fixture.clients.push(faulty);

    // Every byte value but the newline, in lines of several sizes: none is cut, delayed or dropped.
    const line = (size: number): Buffer =>
      Buffer.from([...Array.from({ length: size }, (_, i) => ((i * 7 + 3) % 256 === 0x0a ? 0x0b : (i * 7 + 3) % 256)), 0x0a]);
    const lines = [1, 3, 1000, 70_000, 5].map(line);
    const [, faultyEcho] = await Promise.all([
      (async () => {
        for (const line of lines) {
          await clean.write(line);
          assert.ok((await clean.read(line.length)).equals(line), `clean echo of ${line.length} bytes`);
        }
      })(),
      (async () => {
        await faulty.write('first\nsecond\n');
        return faulty.readToEnd();
      })(),
    ]);
    assert.equal(faultyEcho.toString(), 'first\n', 'the faulty listener closed after one line');
    assert.equal(clean.ended || clean.closed, false, 'the clean connection is still open after five lines');
    const [summary] = await fixture.events.closed(1);
    assert.equal(summary?.reason, 'fault_close_after');
    assert.match(summary?.listener ?? '', new RegExp(`:${faultyAddress.port}$`), 'the faulty listener’s connection closed');
  });
});

describe('fault options are checked once, at createEchoServer', () => {
  const listener = (faults: object): object => ({ listeners: [{ protocol: 'tcp', host: HOST, port: 0, faults }] });

  it('out-of-range shares, sizes and delays are InvalidOptionErrors naming the listener field', { timeout: TEST_TIMEOUT_MS }, () => {
    const bad: [string, object][] = [
      ['listeners[0].faults.refuseRate', { refuseRate: 1.5 }],
      ['listeners[0].faults.dropRate', { dropRate: -0.1 }],
      ['listeners[0].faults.chunkBytes', { chunkBytes: 0 }],
      ['listeners[0].faults.throttleBytesPerSecond', { throttleBytesPerSecond: 0.5 }],
      ['listeners[0].faults.reorderWindow', { reorderWindow: 0 }],
      ['listeners[0].faults.delayMs[1]', { delayMs: [80, 20] }],
      ['listeners[0].faults.closeHow', { closeHow: 'abort' }],
    ];
    for (const [option, faults] of bad) {
      assert.throws(
        () => createEchoServer(listener(faults)),
        (err: unknown) => err instanceof InvalidOptionError && err.code === 'ERR_ECHOD_INVALID_OPTION' && err.option === option,
        `${JSON.stringify(faults)} is refused naming ${option}`,
      );
    }
  });

  it(
    'closeAfter out of range (ms beyond a Node timer, zero lines, fractional bytes) is refused too',
    {
      timeout: TEST_TIMEOUT_MS,
    },
    () => {
      for (const closeAfter of [{ ms: 2 ** 31 }, { lines: 0 }, { bytes: 1.5 }]) {
        assert.throws(
          () => createEchoServer(listener({ closeAfter })),
          (err: unknown) => err instanceof InvalidOptionError && err.option.startsWith('listeners[0].faults.closeAfter'),
          `closeAfter ${JSON.stringify(closeAfter)} is refused`,
        );
      }
    },
  );
});

describe('faults from the echod command', () => {
  const { processes, clients, track, cleanup } = new Tracked();
  afterEach(cleanup);

  async function echodWith(args: readonly string[], runtime: Runtime = 'node'): Promise<{ echod: EchodProcess; client: Client }> {
    const { echod, port } = await startEchod(runtime, args, track);
    const client = await Client.connect(port);
    clients.push(client);
    localPort(client);
    return { echod, client };
  }

  it('--delay 100ms holds each echo at least 100 ms', { timeout: CLI_TIMEOUT_MS }, async () => {
    const { client } = await echodWith(['--delay', '100ms']);
    const sentAt = performance.now();
    await client.write('ping\n');
    assert.equal(await client.readText('ping\n'), 'ping\n');
    assertBetween(performance.now() - sentAt, 100, 100 + LATE_MS, 'the delayed echo');
  });

  it('--close-after lines=1 echoes one line, then EOF, logged with reason fault_close_after', { timeout: CLI_TIMEOUT_MS }, async () => {
    const { echod, client } = await echodWith(['--close-after', 'lines=1']);
    await client.write('one\ntwo\n');
    assert.equal((await client.readToEnd()).toString(), 'one\n');
    assert.equal((await echod.closeOf(client)).reason, 'fault_close_after');
  });

  it('--listen "tcp://127.0.0.1:0?chunk=1" echoes a 20-byte line in many reads, byte-exact', { timeout: CLI_TIMEOUT_MS }, async () => {
    const { client } = await echodWith(['--listen', `tcp://${HOST}:0?chunk=1`]);
    const reads = new ReadCounter(client);
    const line = 'abcdefghijklmnopqrs\n';
    await client.write(line);
    assert.equal(await client.readText(line), line);
    assert.ok(reads.reads > 1, `the echo came in ${reads.reads} reads`);
  });

  for (const runtime of RUNTIMES) {
    it(`--chunk 1 (${runtime}): 16 KiB comes back within a second, in many reads, byte-exact`, { timeout: CLI_TIMEOUT_MS }, async () => {
      const { client } = await echodWith(['--chunk', '1'], runtime);
      const reads = new ReadCounter(client);
      const data = Buffer.alloc(CHUNK_ONE_BYTES);
      for (let i = 0; i < data.length - 1; i++) data[i] = 0x20 + (i % 90);
      data[data.length - 1] = 0x0a;
      const sentAt = performance.now();
      await client.write(data);
      const back = await client.read(data.length);
      const elapsed = performance.now() - sentAt;
      assert.ok(back.equals(data), 'byte-exact');
      // One chunk per turn of the event loop; a timer per chunk took about 16 s for this.
      assert.ok(elapsed < CHUNK_ONE_WITHIN_MS, `16 KiB with --chunk 1 took ${Math.round(elapsed)} ms`);
      assert.ok(reads.reads > 1, `the echo came in ${reads.reads} reads`);
    });
  }

  it(
    'a bad fault value exits 2 naming the flag: the binary, then each fault flag, env variable and URL key',
    { timeout: CLI_TIMEOUT_MS },
    async () => {
      const echod = new EchodProcess('node', ['--host', HOST, '--port', '0', '--log-format', 'json', '--delay', 'fast']);
      processes.push(echod);
      assert.equal((await echod.exited(START_MS)).code, 2, echod.summary().join('\n'));
      assert.match(echod.stderr, /invalid --delay: /);

      // The rest through main(): these are refused while parsing, before any logger or listener exists.
      const cases: { argv: string[]; env?: Record<string, string>; names: string }[] = [
        { argv: ['--throttle', '8KiB'], names: '--throttle' },
        { argv: ['--chunk', '0'], names: '--chunk' },
        { argv: ['--close-after', 'lines=0'], names: '--close-after' },
        { argv: ['--close-after', 'ms=300'], names: '--close-after' },
        { argv: ['--close-how', 'abort'], names: '--close-how' },
        { argv: ['--refuse-rate', '2'], names: '--refuse-rate' },
        { argv: ['--drop-rate=-0.5'], names: '--drop-rate' },
        { argv: ['--duplicate-rate', 'often'], names: '--duplicate-rate' },
        { argv: ['--reorder-window', '0'], names: '--reorder-window' },
        { argv: [], env: { ECHOD_DELAY: 'soon' }, names: 'ECHOD_DELAY' },
        { argv: ['--listen', `tcp://${HOST}:0?delay=x`], names: '--listen' },
        { argv: ['--listen', `udp://${HOST}:0?reorder-window=none`], names: '--listen' },
      ];
      for (const { argv, env, names } of cases) {
        let stderr = '';
        let stdout = '';
        const code = await main(['--host', HOST, '--port', '0', ...argv], {
          env: env ?? {},
          stdout: { write: (text: string) => (stdout += text) },
          stderr: { write: (text: string) => (stderr += text) },
          signals: new EventEmitter(),
        });
        assert.equal(code, 2, `${argv.join(' ')} ${JSON.stringify(env ?? {})}`);
        assert.ok(stderr.startsWith(`echod: invalid ${names}: `), `names ${names}: ${stderr}`);
        assert.equal(stdout, '');
      }
    },
  );

  it(
    '--delay 600h and --chunk 99999999999999999999 (parse, but out of range) exit 2 naming their flag',
    {
      timeout: CLI_TIMEOUT_MS,
    },
    async () => {
      const runs = [
        ['--delay', '600h'],
        ['--chunk', '99999999999999999999'],
      ].map(([flag = '', value = '']) => {
        const echod = new EchodProcess('node', ['--host', HOST, '--port', '0', '--log-format', 'json', flag, value]);
        processes.push(echod);
        return { flag, echod };
      });
      for (const { flag, echod } of runs) {
        assert.equal((await echod.exited(START_MS)).code, 2, echod.summary().join('\n'));
        assert.match(echod.stderr, new RegExp(`invalid ${flag}: `));
      }
    },
  );

  it(
    '--close-after time=600h (beyond a Node timer) exits 2 instead of closing every connection at once',
    {
      timeout: CLI_TIMEOUT_MS,
    },
    async () => {
      const echod = new EchodProcess('node', ['--host', HOST, '--port', '0', '--log-format', 'json', '--close-after', 'time=600h']);
      processes.push(echod);
      await echod
        .until(() => echod.exit !== null || echod.all('listening').length > 0, 'echod to exit or listen', START_MS)
        .catch(() => {});
      assert.equal(echod.exit?.code, 2, `exits 2: ${echod.summary().join('\n')}`);
      assert.match(echod.stderr, /invalid --close-after: /);
    },
  );
});
