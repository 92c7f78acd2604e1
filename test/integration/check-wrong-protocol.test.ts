// `echod check` (and `echod bench`) pointed at a port of the wrong protocol say so and what to
// change, instead of a misleading timeout or a parser's error: --tls on a plain port (connected,
// but no handshake), a plain check on a TLS port (nothing back, or a TLS alert), http:// or ws://
// on a TCP echo, https:// on a plain HTTP port.
import assert from 'node:assert/strict';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createEchoServer, type EchoServer } from '../../src/index.js';
import { benchMain, type BenchResult } from '../../src/tools/bench.js';
import { checkMain, type CheckResult } from '../../src/tools/check.js';
import { HOST } from '../../testkit/clients.js';
import { runJson } from '../../testkit/tool-io.js';

const TEST_TIMEOUT_MS = 30_000;
/** A TLS alert record: fatal (2), protocol_version (70), as a TLS server answers plain bytes. */
const TLS_ALERT = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]);

const check = (args: readonly string[]): Promise<{ code: number; result: CheckResult; stderr: string }> =>
  runJson<CheckResult>(checkMain, args);

describe('check on a port of the wrong protocol', () => {
  let server: EchoServer;
  let alerting: Server;
  let tcp = 0;
  let tls = 0;
  let http = 0;
  let alert = 0;
  before(async () => {
    server = createEchoServer({
      listeners: [
        { protocol: 'tcp', host: HOST, port: 0 },
        { protocol: 'tls', host: HOST, port: 0 },
        { protocol: 'http', host: HOST, port: 0 },
      ],
      tls: { selfSigned: true },
    });
    await server.listen();
    [tcp, tls, http] = (server.addresses as AddressInfo[]).map((address) => address.port) as [number, number, number];
    // Answers whatever comes with a TLS alert, then closes: a TLS server that says why.
    alerting = createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => socket.end(TLS_ALERT));
    });
    await new Promise<void>((resolve) => alerting.listen(0, HOST, resolve));
    alert = (alerting.address() as AddressInfo).port;
  });
  after(async () => {
    await server.close();
    await new Promise<void>((resolve) => alerting.close(() => resolve()));
  });

  it(
    '--tls on a plain port: connected, but no TLS handshake (not "no answer to a connect"), and the run stops',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const { code, result } = await check([`${HOST}:${tcp}`, '--tls', '--tls-insecure', '--timeout', '1']);
      assert.equal(code, 1);
      assert.equal(result.cases[0]?.reason, 'connected, but no TLS handshake within 1 s: is it a TLS port?');
      assert.equal(
        result.error,
        `${HOST}:${tcp} over TLS, unverified: connected, but no TLS handshake within 1 s: is it a TLS port?; the other 9 cases were not run`,
      );
    },
  );

  it('bench --tls on a plain port: the same words, and it returns (it waited for ever)', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { code, result } = await runJson<BenchResult>(benchMain, [
      `${HOST}:${tcp}`,
      '--tls',
      '--tls-insecure',
      '--timeout',
      '1',
      '-n',
      '10',
    ]);
    assert.equal(code, 1);
    assert.equal(result.error, `cannot connect to ${HOST}:${tcp}: connected, but no TLS handshake within 1 s: is it a TLS port?`);
  });

  it('a plain check on a TLS port: closed without a byte back, so it hints --tls', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { code, result } = await check([`${HOST}:${tls}`, '--cases', 'single-line']);
    assert.equal(code, 1);
    assert.match(
      result.cases[0]?.reason ?? '',
      /^got 0 of 33 bytes, then the server closed the connection .* \(the server closed without a byte back: if it is a TLS port, pass --tls\)$/,
    );
  });

  it('a plain check answered with a TLS alert: it is a TLS port, pass --tls', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { code, result } = await check([`${HOST}:${alert}`, '--cases', 'single-line']);
    assert.equal(code, 1);
    assert.match(result.cases[0]?.reason ?? '', /\(the server answered with a TLS alert: it is a TLS port, pass --tls\)$/);
  });

  it(
    'silence alone is no TLS hint: raw bytes to a line echo come back never, and the reason says only that',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      // no-newline in raw mode against a line echo: nothing comes back, and the connection stays open.
      const { result } = await check([`${HOST}:${tcp}`, '--cases', 'no-newline', '--mode', 'raw', '--timeout', '300ms']);
      assert.equal(result.cases[0]?.status, 'fail');
      assert.doesNotMatch(result.cases[0]?.reason ?? '', /TLS/);
    },
  );

  it('http:// and ws:// on a TCP echo: not HTTP, use host:port; the run stops', { timeout: TEST_TIMEOUT_MS }, async () => {
    for (const scheme of ['http', 'ws']) {
      const { code, result } = await check([`${scheme}://${HOST}:${tcp}/`]);
      assert.equal(code, 1);
      const hint = `the server did not answer HTTP: is it an HTTP port? for a TCP echo use ${HOST}:${tcp} without ${scheme}://`;
      assert.match(result.cases[0]?.reason ?? '', new RegExp(`^HPE_[A-Z_]+: ${hint.replace(/[.?/]/g, '\\$&')}$`));
      assert.match(
        result.error ?? '',
        new RegExp(`^${HOST.replace(/\./g, '\\.')}:${tcp} over .*: ${hint.replace(/[.?/]/g, '\\$&')}; the other \\d+ cases were not run$`),
      );
    }
  });

  it('https:// on a plain HTTP port: the server did not answer TLS; the run stops', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { code, result } = await check([`https://${HOST}:${http}/`, '--tls-insecure']);
    assert.equal(code, 1);
    assert.match(result.cases[0]?.reason ?? '', /^cannot connect: .*\(the server did not answer TLS: is it a TLS port\?\)$/);
    assert.match(result.error ?? '', /: the server did not answer TLS: is it a TLS port\?; the other 3 cases were not run$/);
  });
});
