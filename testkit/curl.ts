// curl, the client people reach for first, run by the HTTP tests: its exit code checked, the
// response's status, headers and body returned. With `--next`, the headers are the first
// transfer's (-D is reset by --next), the body every transfer's.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** `curl -sS args`, `input` on its stdin; the status is the last one in the headers (past any 100 Continue). */
export async function curl(args: string[], input?: Buffer): Promise<{ status: number; headers: string; body: string }> {
  // -D to a file: curl 7.88 crashes writing headers to /dev/stderr when that is a pipe.
  const headerFile = join(mkdtempSync(join(tmpdir(), 'echod-curl-')), 'headers');
  const child = spawn('curl', ['-sS', '-D', headerFile, ...args]);
  child.stdin.end(input);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | string | null>((resolve) => child.on('close', (c, sig) => resolve(c ?? sig)));
  assert.equal(code, 0, `curl ${args.join(' ')}: ${stderr}`);
  const headers = readFileSync(headerFile, 'utf8');
  rmSync(dirname(headerFile), { recursive: true });
  const statuses = [...headers.matchAll(/^HTTP\/[\d.]+ (\d{3})/gm)].map((m) => Number(m[1]));
  return { status: statuses.at(-1) ?? 0, headers, body: stdout };
}
