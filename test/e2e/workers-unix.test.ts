// --workers with a unix:// listener is refused at start-up: each worker would bind its own
// socket file at the path, and only one can be there (the second worker failed with
// EADDRINUSE). The real binary exits 2 with one line naming the flag and the path, and
// leaves the path as it was (nothing created).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ROOT } from '../../testkit/echod-process.js';
import { EXIT_USAGE } from '../../src/core/exit-codes.js';

const RUN_MS = 10_000;

function echod(args: readonly string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stderr: string } {
  const run = spawnSync(process.execPath, [join(ROOT, 'bin/echod.js'), ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: RUN_MS,
  });
  return { status: run.status, stderr: run.stderr };
}

describe('--workers with a unix:// listener', () => {
  const dir = mkdtempSync(join(tmpdir(), 'echod-workers-unix-'));
  const path = join(dir, 'echod.sock');
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 2 at start-up naming --workers and the path; nothing is bound', () => {
    const { status, stderr } = echod(['--workers', '2', '--listen', `unix://${path}`, '--listen', 'tcp://127.0.0.1:0']);
    assert.equal(status, EXIT_USAGE, stderr);
    const [line] = stderr.split('\n');
    assert.equal(
      line,
      `echod: --workers 2 cannot serve unix://${path}: processes cannot share one socket file (run one echod per unix socket, or listen on tcp://)`,
    );
    assert.equal(existsSync(path), false);
  });

  it('names ECHOD_WORKERS when the variable set it', () => {
    const { status, stderr } = echod(['--listen', `unix://${path}`], { ECHOD_WORKERS: '3' });
    assert.equal(status, EXIT_USAGE, stderr);
    assert.match(stderr, /^echod: ECHOD_WORKERS 3 cannot serve unix:\/\//);
  });

  it('one process still serves it', () => {
    const { status, stderr } = echod(['--workers', '1', '--listen', `unix://${path}`, '--check-config']);
    assert.equal(status, 0, stderr);
  });
});
