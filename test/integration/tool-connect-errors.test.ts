// What `echod check` and `echod bench` say when a connect or a TLS handshake fails: the same
// words from both (one table, src/tools/connect-errors.ts), Node's message not repeated after its
// code, and a certificate that does not verify names the flags that change that.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createEchoServer, type EchoServer } from '../../src/index.js';
import { benchMain, type BenchResult } from '../../src/tools/bench.js';
import { checkMain, type CheckResult } from '../../src/tools/check.js';
import { HOST } from '../../testkit/clients.js';
import { runJson } from '../../testkit/tool-io.js';

const TEST_TIMEOUT_MS = 30_000;
const HINT = "(pass --tls-insecure to skip verification, or --tls-ca FILE with the server's CA)";
const REFUSED = 'connection refused (ECONNREFUSED): nothing listens on that port';

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('connect and TLS errors, as check and bench say them', () => {
  let server: EchoServer;
  let tls = 0;
  let https = 0;
  before(async () => {
    server = createEchoServer({
      listeners: [
        { protocol: 'tls', host: HOST, port: 0 },
        { protocol: 'https', host: HOST, port: 0 },
      ],
      tls: { selfSigned: true },
    });
    await server.listen();
    [tls, https] = (server.addresses as AddressInfo[]).map((address) => address.port) as [number, number];
  });
  after(() => server.close());

  it(
    'a self-signed certificate: check --tls, check https:// and bench --tls each say what to pass',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      // Every case would fail the same way: the first says why, the others are not run.
      const stream = await runJson<CheckResult>(checkMain, [`${HOST}:${tls}`, '--tls']);
      assert.equal(stream.code, 1);
      assert.equal(stream.result.cases.length, 1);
      assert.equal(stream.result.cases[0]?.reason, `cannot connect: DEPTH_ZERO_SELF_SIGNED_CERT: self-signed certificate ${HINT}`);
      assert.ok((stream.result.notRun ?? []).length > 0, 'the other cases are not run');
      assert.match(stream.result.error ?? '', /over TLS: the server's certificate did not verify: DEPTH_ZERO_SELF_SIGNED_CERT/);
      const web = await runJson<CheckResult>(checkMain, [`https://${HOST}:${https}/`]);
      assert.equal(web.code, 1);
      assert.equal(web.result.cases.length, 1);
      assert.equal(web.result.cases[0]?.reason, `cannot connect: DEPTH_ZERO_SELF_SIGNED_CERT: self-signed certificate ${HINT}`);
      assert.ok((web.result.notRun ?? []).length > 0, 'the other cases are not run');
      const bench = await runJson<BenchResult>(benchMain, [`${HOST}:${tls}`, '--tls', '-n', '10']);
      assert.equal(bench.code, 1);
      assert.equal(bench.result.error, `cannot connect to ${HOST}:${tls}: DEPTH_ZERO_SELF_SIGNED_CERT: self-signed certificate ${HINT}`);
    },
  );

  it(
    'bench over https:// whose certificate does not verify: one error per connection, not one per turn',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const bench = await runJson<BenchResult>(benchMain, [`https://${HOST}:${https}/`, '-c', '3', '-t', '0.5', '-w', '0']);
      assert.equal(bench.code, 1);
      assert.equal(bench.result.errors.tls, 3);
    },
  );

  it('connection refused: bench says what check says; no code said twice', { timeout: TEST_TIMEOUT_MS }, async () => {
    const port = await closedPort();
    const bench = await runJson<BenchResult>(benchMain, [`${HOST}:${port}`, '-n', '10']);
    assert.equal(bench.code, 1);
    assert.equal(bench.result.error, `cannot connect to ${HOST}:${port}: ${REFUSED}`);
    const stream = await runJson<CheckResult>(checkMain, [`${HOST}:${port}`]);
    assert.equal(stream.result.cases[0]?.reason, `cannot connect: ${REFUSED}`);
    assert.equal(stream.result.error?.startsWith(`cannot reach ${HOST}:${port} over TCP: ${REFUSED}`), true, stream.result.error);
    const web = await runJson<CheckResult>(checkMain, [`http://${HOST}:${port}/`]);
    assert.equal(web.result.cases[0]?.reason, `cannot connect: ${REFUSED}`);
  });
});
