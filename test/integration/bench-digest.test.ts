// echod bench --digest crc32c|sha256: the client's per-connection digest of what it sent and
// received equals what the server computed (echod's --digest), connection by connection.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createEchoServer, type ConnectionSummary, type EchoServer } from '../../src/index.js';
import { benchMain, type BenchResult } from '../../src/tools/bench.js';

const TEST_TIMEOUT_MS = 30_000;

for (const algorithm of ['crc32c', 'sha256'] as const) {
  describe(`echod bench --digest ${algorithm}`, () => {
    let server: EchoServer | undefined;
    after(() => server?.close());

    it("each connection's digests equal the server's, with sent and received crossed over", { timeout: TEST_TIMEOUT_MS }, async () => {
      server = createEchoServer({ host: '127.0.0.1', port: 0, digest: algorithm });
      const echo = server;
      const { port } = await echo.listen();
      const closed: ConnectionSummary[] = [];
      echo.on('connectionClose', (summary) => closed.push(summary));
      let out = '';
      const code = await benchMain([`127.0.0.1:${port}`, '-c', '3', '-n', '300', '--warmup', '0', '--digest', algorithm, '--json'], {
        stdout: { write: (text: string) => (out += text) },
        stderr: { write: () => true },
        env: {},
      });
      assert.equal(code, 0);
      const result = JSON.parse(out) as BenchResult;
      assert.equal(result.digestAlgorithm, algorithm);
      const digests = result.digests ?? [];
      assert.equal(digests.length, 3);
      while (closed.length < 3) await new Promise((resolve) => echo.once('connectionClose', resolve));
      const server_ = closed.map((summary) => `${summary.digest?.received}/${summary.digest?.sent}`).sort();
      const client = digests.map((digest) => `${digest.sent}/${digest.received}`).sort();
      assert.deepEqual(client, server_);
      for (const digest of digests) {
        assert.equal(digest.sent.length, algorithm === 'crc32c' ? 8 : 64);
        assert.equal(digest.sent, digest.received, 'an echo server returns what it was sent');
      }
    });
  });
}
