// Ctrl-C on the real `echod bench` process: a run interrupted after it measured reports what it
// measured and exits as usual; one interrupted before it measured anything exits 130, so a
// script never mistakes an aborted run for a result.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createEchoServer, type EchoServer } from '../../src/server/server.js';
import { within } from '../../testkit/wait.js';

const TEST_TIMEOUT_MS = 30_000;
const WAIT_MS = 15_000;
const BIN = fileURLToPath(new URL('../../bin/echod.js', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Starts `echod bench` with JSON intervals (and the `--json` summary, unless `json` is false: then
 * the text summary, on stderr); sends SIGINT (by PID) once an interval satisfies `when`.
 */
async function interruptWhen(args: readonly string[], when: (interval: Record<string, unknown>) => boolean, json = true): Promise<Run> {
  const child = spawn(process.execPath, [BIN, 'bench', ...args, '--interval-format', 'json', ...(json ? ['--json'] : [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let sent = false;
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (sent) return;
    for (const line of stdout.split('\n').slice(0, -1)) {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed.type === 'interval' && when(parsed)) {
        sent = true;
        assert.ok(child.pid !== undefined);
        process.kill(child.pid, 'SIGINT');
        return;
      }
    }
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const code = await within(exit, WAIT_MS, 'echod bench to exit after SIGINT');
    return { code, stdout, stderr };
  } finally {
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  }
}

function summaryOf(run: Run): Record<string, unknown> {
  const last = run.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as Record<string, unknown>;
}

describe('echod bench and SIGINT', () => {
  let server: EchoServer | undefined;
  afterEach(() => server?.close());

  async function start(): Promise<number> {
    server = createEchoServer({ host: '127.0.0.1', port: 0 });
    return (await server.listen()).port;
  }

  it('interrupted during the warm-up: nothing measured, exit 130', { timeout: TEST_TIMEOUT_MS }, async () => {
    const port = await start();
    const run = await interruptWhen([`127.0.0.1:${port}`, '-w', '60s', '-t', '60s', '-c', '1'], (interval) => interval.phase === 'warmup');
    assert.equal(run.code, 130, run.stderr);
    const summary = summaryOf(run);
    assert.equal(summary.interrupted, true);
    assert.equal(summary.msgs, 0);
    assert.equal(summary.ok, false);
  });

  it('interrupted 1 s into a 2 s warm-up: the summary says how much of the warm-up ran', { timeout: TEST_TIMEOUT_MS }, async () => {
    const port = await start();
    const run = await interruptWhen(
      [`127.0.0.1:${port}`, '-w', '2', '-t', '60s', '-c', '1'],
      (interval) => interval.phase === 'warmup' && (interval.endS as number) >= 1,
      false,
    );
    assert.equal(run.code, 130, run.stderr);
    const line = /measured +0\.00 s \(interrupted (\d+\.\d\d) s into the 2 s warm-up\): 0 messages echoed/.exec(run.stderr);
    assert.ok(line !== null, run.stderr);
    const ran = Number(line[1]);
    assert.ok(ran >= 1 && ran < 2, `ran ${ran} s of the warm-up`);
    assert.doesNotMatch(run.stderr, /after 2 s warm-up/);
  });

  it('interrupted while measuring: the summary of what was measured, exit 0', { timeout: TEST_TIMEOUT_MS }, async () => {
    const port = await start();
    const run = await interruptWhen(
      [`127.0.0.1:${port}`, '-w', '0', '-t', '60s', '-c', '1'],
      (interval) => interval.phase === 'measure' && (interval.msgs as number) > 0,
    );
    assert.equal(run.code, 0, run.stderr);
    const summary = summaryOf(run);
    assert.equal(summary.interrupted, true);
    assert.ok((summary.msgs as number) > 0);
    assert.equal(summary.ok, true);
  });
});
