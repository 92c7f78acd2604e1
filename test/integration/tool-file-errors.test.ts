// A file named on check's or bench's command line that cannot be read or written is one line
// saying why in words (no such file, is a directory), as echod's own file errors say it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createEchoServer, type EchoServer } from '../../src/index.js';
import { benchMain } from '../../src/tools/bench.js';
import { checkMain } from '../../src/tools/check.js';
import { HOST } from '../../testkit/clients.js';
import { runTool } from '../../testkit/tool-io.js';

const dir = mkdtempSync(join(tmpdir(), 'echod-tool-files-'));
let server: EchoServer;
let target = '';
before(async () => {
  server = createEchoServer({ host: HOST, port: 0 });
  await server.listen();
  target = `${HOST}:${server.address?.port ?? 0}`;
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('file errors in the tools', () => {
  it('check --tls-ca naming a missing file: usage error, "no such file"', async () => {
    const missing = join(dir, 'missing-ca.pem');
    const { code, stderr } = await runTool(checkMain, ['--tls', '--tls-ca', missing, target]);
    assert.equal(code, 2);
    assert.match(stderr, new RegExp(`cannot read --tls-ca "${missing}": no such file`));
    assert.doesNotMatch(stderr, /ENOENT/);
  });

  it('bench --histogram naming a directory: "is a directory"', async () => {
    const { stderr } = await runTool(benchMain, ['-t', '0.2', '-w', '0', '-c', '1', '--histogram', dir, target]);
    assert.match(stderr, new RegExp(`cannot write --histogram "${dir}": is a directory`));
    assert.doesNotMatch(stderr, /EISDIR/);
  });
});
