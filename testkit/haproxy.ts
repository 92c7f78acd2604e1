// A real haproxy in front of echod: its configuration written to a file, its listening socket
// bound by the OS on a free port and passed as fd 3 (testkit/socket-activate.py: haproxy
// refuses `bind :0`), so the port is never guessed. Stopped by the PID it was started with.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OutputProcess } from './output-process.js';

const LAUNCHER = fileURLToPath(new URL('./socket-activate.py', import.meta.url));

/** haproxy on the PATH, or where Debian's package puts it (/usr/sbin is not on every user's PATH); undefined if neither. */
export const HAPROXY = ['haproxy', '/usr/sbin/haproxy'].find((command) => spawnSync(command, ['-v']).status === 0);
const PYTHON = spawnSync('python3', ['--version']).status === 0;

/** Why a haproxy test cannot run here, or false. */
export const HAPROXY_SKIP: string | false =
  HAPROXY === undefined ? 'haproxy is not installed (apt-get install haproxy)' : !PYTHON ? 'python3 is not installed' : false;

/**
 * haproxy in the foreground (-db) with the configuration `config(bind)` makes (`bind` is the
 * address for its `bind` line, `fd@3`), in `dir`; resolves once its port is known.
 */
export async function startHaproxy(
  dir: string,
  config: (bind: string) => string,
  track: (proxy: OutputProcess) => void,
): Promise<{ haproxy: OutputProcess; port: number }> {
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, config('fd@3'));
  // The launcher execs haproxy, so our PID is haproxy's.
  const haproxy = new OutputProcess('haproxy', 'python3', [LAUNCHER, '1', '--', HAPROXY as string, '-db', '-f', file]);
  track(haproxy);
  const [, port] = await haproxy.match(/^ports (\d+)$/m, 'its listening port');
  return { haproxy, port: Number(port) };
}
