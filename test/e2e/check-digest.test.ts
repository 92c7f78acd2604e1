// `echod check --digest crc32c|sha256`: for every connection of every case, the client's digests
// of what it sent and received equal the `digest` of echod's close line for the same client
// port, crossed over (the server's `received` is the client's `sent`); they are the digests of
// the bytes on the wire, computed independently (testkit/digests.ts) from what a recording
// echo in this test saw; and the table prints them as --json gives them.
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import type { ConnectionDigest } from '../../src/tools/check.js';
import { checkMain, type CheckResult } from '../../src/tools/check.js';
import { HOST, WAIT_MS } from '../../testkit/clients.js';
import { digestHex } from '../../testkit/digests.js';
import { type EchodProcess, type LogLine, startEchod } from '../../testkit/echod-process.js';
import { runJson, runTool } from '../../testkit/tool-io.js';
import { Waiters } from '../../testkit/wait.js';

const TEST_TIMEOUT_MS = 30_000;
/** Every stream case, kept small and quick: the servers here answer in microseconds. */
const SMALL = ['--connections', '6', '--slow-size', '256KiB', '--idle', '200ms', '--timeout', '5s'];
/** Stream connections a line-mode run with SMALL opens: one per case, and `concurrent`'s 6. */
const CONNECTIONS = 9 + 6;
/** The line of the single-line case, as check sends it. */
const SINGLE_LINE = 'hello from echod check: one line\n';
/** What the half-close-tail case sends before its FIN. */
const HALF_CLOSE_TAIL = 'a complete line\nand an unterminated tail';

type Algorithm = 'crc32c' | 'sha256';

const runCheck = (args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> => runTool(checkMain, args);
const checkJson = (args: readonly string[]): Promise<{ code: number; result: CheckResult }> => runJson<CheckResult>(checkMain, args);

function connectionsOf(result: CheckResult): ConnectionDigest[] {
  return result.cases.flatMap((c) => c.connections ?? []);
}

/** echod's close line for the connection from `port`, once it is logged. */
function closeFrom(echod: EchodProcess, port: number): Promise<LogLine> {
  return echod.log((line) => line.msg === 'connection closed' && line.remotePort === port, `the close of the connection from port ${port}`);
}

/** A raw echo that records every byte each connection brought, keyed by the client's port. */
class RecordingEcho {
  readonly received = new Map<number, Buffer[]>();
  readonly closed = new Set<number>();
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly waiters = new Waiters();

  private constructor() {
    this.server = createServer({ allowHalfOpen: true }, (socket) => {
      const port = socket.remotePort ?? 0;
      const chunks: Buffer[] = [];
      this.received.set(port, chunks);
      this.sockets.add(socket);
      socket.on('error', () => socket.destroy());
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('close', () => {
        this.sockets.delete(socket);
        this.closed.add(port);
        this.waiters.notify();
      });
      // pipe(): backpressure for the slow reader, and our FIN after the client's.
      socket.pipe(socket);
    });
  }

  static async start(): Promise<{ echo: RecordingEcho; port: number }> {
    const echo = new RecordingEcho();
    await new Promise<void>((resolve) => echo.server.listen(0, HOST, resolve));
    const address = echo.server.address();
    assert.ok(address !== null && typeof address === 'object');
    return { echo, port: address.port };
  }

  /** Every byte the connection from `port` brought, once it has closed. */
  async bytesFrom(port: number): Promise<Buffer> {
    await this.waiters.until(() => this.closed.has(port), WAIT_MS, `the connection from port ${port} to close`);
    return Buffer.concat(this.received.get(port) ?? []);
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('echod check --digest against echod --digest', () => {
  const processes: EchodProcess[] = [];
  after(async () => {
    for (const echod of processes.splice(0)) await echod.stop();
  });

  for (const algorithm of ['crc32c', 'sha256'] as const) {
    it(
      `${algorithm}: every connection of every case has the digests of its close line, crossed over`,
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const { echod, port } = await startEchod('node', ['--digest', algorithm], (started) => processes.push(started));
        const { code, result } = await checkJson([`${HOST}:${port}`, '--digest', algorithm, ...SMALL]);
        assert.equal(code, 0, JSON.stringify(result.cases.filter((c) => c.status === 'fail')));
        assert.equal(result.digest, algorithm);
        const connections = connectionsOf(result);
        assert.equal(connections.length, CONNECTIONS, 'one entry per connection check opened');
        assert.equal(new Set(connections.map((c) => c.localPort)).size, CONNECTIONS, 'each from its own port');
        for (const connection of connections) {
          const close = await closeFrom(echod, connection.localPort);
          const at = `the connection from ${connection.local}`;
          assert.deepEqual(close.digest, { algorithm, received: connection.digest.sent, sent: connection.digest.received }, at);
          assert.equal(close.bytesIn, connection.bytesSent, at);
          assert.equal(close.bytesOut, connection.bytesReceived, at);
          assert.equal(connection.digest.algorithm, algorithm);
          assert.equal(connection.digest.sent, connection.digest.received, `${at}: a plain echo returns what it was sent`);
          assert.ok(connection.bytesSent > 0, at);
        }
      },
    );
  }

  it(
    'the table prints each connection: its port, bytes and digests, equal to the close line and to the digest of the line sent',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const { echod, port } = await startEchod('node', ['--digest', 'crc32c'], (started) => processes.push(started));
      const { code, stdout } = await runCheck([`${HOST}:${port}`, '--digest', 'crc32c', '--cases', 'single-line']);
      assert.equal(code, 0, stdout);
      assert.match(stdout, /check's "sent" is the "received" of echod's close line/);
      const printed = /crc32c from 127\.0\.0\.1:(\d+) {2}sent 33 B ([0-9a-f]{8}) {2}received 33 B ([0-9a-f]{8})\n/.exec(stdout);
      assert.ok(printed, stdout);
      const [, clientPort, sent, received] = printed;
      const expected = digestHex('crc32c', Buffer.from(SINGLE_LINE));
      assert.equal(sent, expected, 'the digest of the line, computed here');
      assert.equal(received, expected);
      const close = await closeFrom(echod, Number(clientPort));
      assert.deepEqual(close.digest, { algorithm: 'crc32c', received: sent, sent: received });
    },
  );

  it(
    "with a banner, what the client received is the banner and the echo: still the close line's sent",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const banner = 'hello from lab1\n';
      const { echod, port } = await startEchod('node', ['--digest', 'crc32c', '--banner', banner.trimEnd()], (started) =>
        processes.push(started),
      );
      // half-close-tail reads to the server's FIN, so everything echod sent is in what the client got.
      const { code, result } = await checkJson([`${HOST}:${port}`, '--digest', 'crc32c', '--cases', 'half-close-tail']);
      assert.equal(code, 1, 'the banner is bytes that were never sent: the case fails');
      const [connection] = connectionsOf(result);
      assert.ok(connection);
      assert.equal(connection.digest.sent, digestHex('crc32c', Buffer.from(HALF_CLOSE_TAIL)));
      assert.equal(connection.digest.received, digestHex('crc32c', Buffer.from(banner + HALF_CLOSE_TAIL)));
      assert.equal(connection.bytesReceived, banner.length + HALF_CLOSE_TAIL.length);
      const close = await closeFrom(echod, connection.localPort);
      assert.deepEqual(close.digest, { algorithm: 'crc32c', received: connection.digest.sent, sent: connection.digest.received });
    },
  );
});

describe('echod check --digest, computed independently', () => {
  let recording: RecordingEcho | undefined;
  after(() => recording?.close());

  for (const algorithm of ['crc32c', 'sha256'] as const satisfies readonly Algorithm[]) {
    it(`${algorithm}: each connection's digests are those of the bytes a recording echo saw`, { timeout: TEST_TIMEOUT_MS }, async () => {
      await recording?.close();
      const started = await RecordingEcho.start();
      recording = started.echo;
      const { code, result } = await checkJson([`${HOST}:${started.port}`, '--digest', algorithm, ...SMALL]);
      assert.equal(code, 0, JSON.stringify(result.cases.filter((c) => c.status === 'fail')));
      const connections = connectionsOf(result);
      assert.equal(connections.length, CONNECTIONS);
      for (const connection of connections) {
        const bytes = await started.echo.bytesFrom(connection.localPort);
        const digest = digestHex(algorithm, bytes);
        assert.equal(connection.bytesSent, bytes.length, connection.local);
        assert.equal(connection.digest.sent, digest, `${connection.local}: sent`);
        // A raw echo writes back exactly what it read.
        assert.equal(connection.digest.received, digest, `${connection.local}: received`);
      }
    });
  }
});

describe('echod check --digest command line', () => {
  it('without --digest, results carry no digests', { timeout: TEST_TIMEOUT_MS }, async () => {
    const started = await RecordingEcho.start();
    try {
      const { code, result } = await checkJson([`${HOST}:${started.port}`, '--cases', 'single-line']);
      assert.equal(code, 0);
      assert.equal(result.digest, undefined);
      assert.equal(result.cases[0]?.connections, undefined);
    } finally {
      await started.echo.close();
    }
  });

  it('an unknown algorithm, or --digest with --udp, exits 2 naming the flag', async () => {
    for (const args of [
      ['--digest', 'md5'],
      ['--digest', 'crc32c', '--udp'],
    ]) {
      const { code, stderr } = await runCheck(args);
      assert.equal(code, 2, args.join(' '));
      assert.match(stderr, /^echod check: .*--digest/);
    }
  });
});
