// echod bench --digest crc32c: the client's per-connection CRC32C of what it sent and received
// equals what the server computed (echod's --digest crc32c), connection by connection.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createEchoServer, type ConnectionSummary } from '../src/index.js';
import { benchMain, type BenchResult } from '../src/tools/bench.js';

const TEST_TIMEOUT_MS = 30_000;

describe('echod bench --digest crc32c', () => {
  const server = createEchoServer({ host: '127.0.0.1', port: 0, digest: 'crc32c' });
  after(() => server.close());

  it("each connection's digests equal the server's, with sent and received crossed over", { timeout: TEST_TIMEOUT_MS }, async () => {
    const { port } = await server.listen();
    const closed: ConnectionSummary[] = [];
    server.on('connectionClose', (summary) => closed.push(summary));
    let out = '';
    const code = await benchMain([`127.0.0.1:${port}`, '-c', '3', '-n', '300', '--warmup', '0', '--digest', 'crc32c', '--json'], {
      stdout: { write: (text: string) => (out += text) },
      stderr: { write: () => true },
      env: {},
    });
    assert.equal(code, 0);
    const result = JSON.parse(out) as BenchResult;
    const digests = result.digests ?? [];
    assert.equal(digests.length, 3);
    while (closed.length < 3) await new Promise((resolve) => server.once('connectionClose', resolve));
    const server_ = closed.map((summary) => `${summary.digest?.received}/${summary.digest?.sent}`).sort();
    const client = digests.map((digest) => `${digest.sent.toString(16).padStart(8, '0')}/${digest.received.toString(16).padStart(8, '0')}`).sort();
    assert.deepEqual(client, server_);
    for (const digest of digests) assert.equal(digest.sent, digest.received, 'an echo server returns what it was sent');
  });
});
