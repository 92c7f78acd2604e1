// `echod check` against a target nothing answers at: it stops after the first case with one
// message naming the address (rather than failing every case, each after its own wait); and
// the wording of its messages: --cases lists the case names in a sentence, "an 8,192-byte".
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { createEchoServer, type EchoServer } from '../../src/server/server.js';
import { checkMain, type CheckResult } from '../../src/tools/check.js';
import { startUdpEchoServer, type TestServer } from '../../testkit/faulty-servers.js';
import { captureIo } from '../../testkit/tool-io.js';

const TEST_TIMEOUT_MS = 30_000;

/** A TCP port that was just bound and closed: nothing listens there. */
async function closedTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}

/** The same for UDP. */
async function closedUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(resolve));
  return port;
}

describe('echod check against an unreachable target', () => {
  it('TCP, connection refused: one case, one message naming the address, exit 1', { timeout: TEST_TIMEOUT_MS }, async () => {
    const port = await closedTcpPort();
    const captured = captureIo();
    const code = await checkMain([`127.0.0.1:${port}`], captured.io);
    assert.equal(code, 1);
    const rows = captured
      .stdout()
      .split('\n')
      .filter((line) => /^ {2}(PASS|FAIL|NOTE) /.test(line));
    assert.equal(rows.length, 1, 'only the first case ran');
    assert.match(rows[0] ?? '', /FAIL {2}single-line/);
    assert.match(
      captured.stderr(),
      new RegExp(
        `^echod check: cannot reach 127\\.0\\.0\\.1:${port} over TCP: connection refused \\(ECONNREFUSED\\): nothing listens on that port; the other 9 cases were not run\\n$`,
      ),
    );
    assert.match(captured.stdout(), /0 passed, 1 failed, 9 not run: FAIL/);
  });

  it('--json: the error, and the cases not run by name', { timeout: TEST_TIMEOUT_MS }, async () => {
    const port = await closedTcpPort();
    const captured = captureIo();
    assert.equal(await checkMain([`127.0.0.1:${port}`, '--json', '--cases', 'concurrent,idle'], captured.io), 1);
    const result = JSON.parse(captured.stdout()) as CheckResult;
    assert.equal(result.cases.length, 1);
    assert.equal(result.cases[0]?.name, 'concurrent');
    assert.deepEqual(result.notRun, ['idle']);
    assert.match(result.error ?? '', /cannot reach 127\.0\.0\.1:\d+ over TCP: connection refused/);
  });

  it('UDP, port unreachable: stops after the first datagram case', { timeout: TEST_TIMEOUT_MS }, async () => {
    const port = await closedUdpPort();
    const captured = captureIo();
    assert.equal(await checkMain([`127.0.0.1:${port}`, '--udp', '--json'], captured.io), 1);
    const result = JSON.parse(captured.stdout()) as CheckResult;
    assert.equal(result.cases.length, 1);
    assert.equal(result.notRun?.length, 7);
    assert.match(result.error ?? '', /over UDP: ICMP port unreachable/);
  });
});

describe('echod check wording', () => {
  let server: EchoServer | undefined;
  let udp: TestServer | undefined;
  afterEach(async () => {
    await server?.close();
    await udp?.close();
    server = undefined;
    udp = undefined;
  });

  it('an unknown --cases name: a sentence naming it and listing the cases', async () => {
    const captured = captureIo();
    assert.equal(await checkMain(['--cases', 'nope'], captured.io), 2);
    assert.match(
      captured.stderr(),
      /^echod check: invalid --cases: "nope" \(there is no case named nope; the cases are: single-line, many-lines, .*, idle\)\n/,
    );
    const two = captureIo();
    assert.equal(await checkMain(['--cases', 'nope,idle,bogus'], two.io), 2);
    assert.match(two.stderr(), /there are no cases named nope, bogus; the cases are: /);
  });

  it('the count and its noun agree: "1 case", "1 byte back intact"', { timeout: TEST_TIMEOUT_MS }, async () => {
    udp = await startUdpEchoServer();
    const captured = captureIo();
    assert.equal(await checkMain([`127.0.0.1:${udp.port}`, '--udp', '--cases', 'datagram-1'], captured.io), 0);
    const text = captured.stdout();
    assert.match(text, /^echod check 127\.0\.0\.1:\d+: UDP, line mode, 1 case, each wait at most 5 s\n/);
    assert.match(text, /\n +1 byte back intact\n/);
    const two = captureIo();
    assert.equal(await checkMain([`127.0.0.1:${udp.port}`, '--udp', '--cases', 'datagram-1,datagram-64'], two.io), 0);
    assert.match(two.stdout(), /, 2 cases, /);
    assert.match(two.stdout(), /\n +64 bytes back intact\n/);
  });

  it('a target that cannot be one says why and what to write instead', async () => {
    for (const [target, message] of [
      ['127.0.0.1:99999', 'invalid target "127.0.0.1:99999": port 99999 is out of range (1–65535)'],
      [
        'ftp://127.0.0.1:21/',
        'invalid target "ftp://127.0.0.1:21/": ftp:// is not a scheme the tools take; write host:port (with --tls or --udp for those), or a URL: http://, https://, ws:// or wss://',
      ],
      ['tcp://::1:7060', 'invalid target "tcp://::1:7060": tcp:// is how echod\'s --listen is written; as a target write [::1]:7060'],
      [
        'udp://127.0.0.1:9000',
        'invalid target "udp://127.0.0.1:9000": udp:// is how echod\'s --listen is written; as a target write --udp 127.0.0.1:9000',
      ],
      [
        'tls://[::1]:8443/',
        'invalid target "tls://[::1]:8443/": tls:// is how echod\'s --listen is written; as a target write --tls [::1]:8443',
      ],
    ]) {
      const captured = captureIo();
      assert.equal(await checkMain([target as string], captured.io), 2, target);
      assert.equal(captured.stderr(), `echod check: ${message}\nTry 'echod check --help' for the list of flags.\n`);
    }
  });

  it('"an 8,192-byte line", "an 8,192-byte datagram"', { timeout: TEST_TIMEOUT_MS }, async () => {
    server = createEchoServer({ host: '127.0.0.1', port: 0 });
    const { port } = await server.listen();
    const stream = captureIo();
    assert.equal(await checkMain([`127.0.0.1:${port}`, '--cases', 'max-line', '--max-size', '8KiB', '--json'], stream.io), 0);
    assert.match((JSON.parse(stream.stdout()) as CheckResult).cases[0]?.reason ?? '', /^observed: an 8,192-byte line came back intact/);
    udp = await startUdpEchoServer({ kind: 'truncate-above', bytes: 1000 });
    const datagram = captureIo();
    assert.equal(await checkMain([`127.0.0.1:${udp.port}`, '--udp', '--cases', 'datagram-8192', '--json'], datagram.io), 0);
    assert.match(
      (JSON.parse(datagram.stdout()) as CheckResult).cases[0]?.reason ?? '',
      /an 8,192-byte datagram came back cut to 1,000 bytes/,
    );
  });
});
