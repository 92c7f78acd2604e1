// `echod check … | head -1` and `echod bench … | head -1`: when the reader of the tool's stdout
// goes away, the tool ends at once with 141 (128 + SIGPIPE, as shells report a C tool killed by
// it) and nothing on stderr, not an unhandled EPIPE with a stack trace.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createEchoServer, type EchoServer } from '../../src/index.js';
import { HOST } from '../../testkit/clients.js';

const BIN = fileURLToPath(new URL('../../bin/echod.js', import.meta.url));
const TEST_TIMEOUT_MS = 20_000;

let server: EchoServer;
let port = 0;
before(async () => {
  server = createEchoServer({ host: HOST, port: 0 });
  await server.listen();
  port = server.address?.port ?? 0;
});
after(() => server.close());

/** Runs the tool, closes its stdout after the first line it prints, and returns how it ended. */
async function firstLineThenClose(args: readonly string[]): Promise<{ code: number | null; firstLine: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  let out = '';
  child.stdout.setEncoding('utf8');
  while (!out.includes('\n')) {
    const [chunk] = (await once(child.stdout, 'data')) as [string];
    out += chunk;
  }
  child.stdout.destroy();
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, firstLine: out.slice(0, out.indexOf('\n')), stderr };
}

describe('a tool whose stdout reader goes away', () => {
  for (const [tool, args] of [
    ['check', ['check', '--timeout', '5s']],
    ['bench', ['bench', '-t', '2', '-w', '0', '-c', '2']],
  ] as const) {
    it(`${tool}: exits 141 quietly`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const { code, firstLine, stderr } = await firstLineThenClose([...args, `${HOST}:${port}`]);
      assert.match(firstLine, new RegExp(`^echod ${tool} `));
      assert.equal(code, 141);
      assert.equal(stderr, '', 'no EPIPE, no stack trace');
    });
  }
});
