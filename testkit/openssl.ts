// `openssl s_client`, a TLS client that is not Node's, for the tests that want one: it verifies
// the server against the test CA (testkit/certs.ts, SNI SERVER_NAME), sends a line and waits
// for the echo. The caller tracks the child and ends it.
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { SERVER_NAME } from './certs.js';
import { HOST, WAIT_MS } from './clients.js';
import { Waiters } from './wait.js';

/** Whether openssl is installed. */
export const OPENSSL = spawnSync('openssl', ['version']).status === 0;

/**
 * `openssl s_client` to `port`, verifying against `caFile`, writing `line`; resolves to the
 * child and its stdout once a whole line has come back. If it exits first, the error has its
 * stderr, and `context()` after it (another process's output).
 */
export async function opensslEcho(
  port: number,
  caFile: string,
  line: string,
  track: (child: ChildProcessWithoutNullStreams) => void,
  what: string,
  context: () => string = () => '',
): Promise<{ child: ChildProcessWithoutNullStreams; stdout: string }> {
  const child = spawn('openssl', [
    's_client',
    '-connect',
    `${HOST}:${port}`,
    '-servername',
    SERVER_NAME,
    '-CAfile',
    caFile,
    '-verify_return_error',
    '-quiet',
  ]);
  track(child);
  let stdout = '';
  let stderr = '';
  const waiters = new Waiters();
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('latin1');
    waiters.notify();
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.on('exit', () => waiters.notify());
  child.stdin.write(line);
  await waiters.until(
    () => {
      if (stdout.includes('\n')) return true;
      if (child.exitCode !== null) throw new Error(`openssl exited ${child.exitCode}: ${stderr}${context()}`);
      return false;
    },
    WAIT_MS,
    what,
  );
  return { child, stdout };
}
