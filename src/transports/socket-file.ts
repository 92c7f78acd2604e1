/**
 * The file a unix listener binds: echod never deletes or takes over what it did not create.
 * Both transports (node:net and Bun.listen) bind through `bindSocketFile` and remove the file
 * with `removeSocketFile`.
 *
 * - At start-up, whatever is at the path is looked at first. Nothing: bind. A socket nobody
 *   serves (a connect is refused: an echod that did not exit cleanly left it) is removed. A
 *   socket that accepts a connect is another running process's: EADDRINUSE, and it is left
 *   alone. Anything else (a regular file, a directory…): refused, and left untouched.
 * - The socket is bound at a private name beside the path and then hard-linked to the path:
 *   link() never replaces anything, so whatever appears at the path meanwhile is safe too. Both
 *   runtimes unlink the name they bound when the listener closes, whatever is there by then;
 *   binding at the private name (unlinked once linked) keeps that from touching the path.
 * - On stop, the path is removed only if it is still the socket bound here (same device and
 *   inode): one that another echod put there since is left to it.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, lstatSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { basename, dirname, join } from 'node:path';

/** How long a connect to an existing socket may take to say whether anyone serves it. */
export const SOCKET_PROBE_TIMEOUT_MS = 1000;

/** The socket file a listener bound: removed on stop only while it is still this one. */
export interface SocketFile {
  readonly path: string;
  readonly dev: number;
  readonly ino: number;
}

/** What a person sees when a unix listener's path cannot be used: one line naming the path. */
function pathError(code: string, path: string, message: string): NodeJS.ErrnoException & { address: string } {
  return Object.assign(new Error(message), { code, errno: undefined, syscall: 'listen', address: path });
}

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

/** Whether a process accepts connections on the socket at `path`: connected, refused, or the error. */
function probe(path: string): Promise<'served' | 'stale' | 'gone' | NodeJS.ErrnoException> {
  return new Promise((resolve) => {
    const socket = connect({ path });
    const done = (result: 'served' | 'stale' | 'gone' | NodeJS.ErrnoException): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    // A live server too busy to accept (its backlog full) is still live.
    const timer = setTimeout(() => done('served'), SOCKET_PROBE_TIMEOUT_MS);
    socket.once('connect', () => done('served'));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') done('stale');
      else if (err.code === 'ENOENT') done('gone');
      else if (err.code === 'EAGAIN') done('served');
      else done(err);
    });
  });
}

/**
 * Makes `path` free for a socket: nothing there, or a stale socket (removed). Throws, leaving
 * the path untouched, when it is a live socket (EADDRINUSE) or not a socket at all (EEXIST).
 */
export async function clearSocketPath(path: string): Promise<void> {
  let stat;
  try {
    stat = lstatSync(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  if (!stat.isSocket()) {
    throw pathError('EEXIST', path, `${path} exists and is not a socket; echod leaves it untouched (remove it, or choose another path)`);
  }
  const result = await probe(path);
  if (result === 'served') {
    throw pathError('EADDRINUSE', path, `${path} is a socket another running process serves (stop it, or choose another path)`);
  }
  if (result === 'stale') {
    try {
      unlinkSync(path);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    return;
  }
  if (result !== 'gone') throw result;
}

/**
 * Binds a unix socket at `path` by way of `bind(privateName)` (the transport's listen), then
 * links it to `path`; resolves to the file to remove on stop. On failure whatever `bind`
 * opened is closed with `unbind`, and the error names `path`.
 */
export async function bindSocketFile(
  path: string,
  bind: (name: string) => Promise<void>,
  unbind: () => Promise<void>,
): Promise<SocketFile> {
  await clearSocketPath(path);
  // Short (a unix socket path has at most 107 bytes) and beside the path (link() stays on one filesystem).
  const name = join(dirname(path), `.${basename(path).slice(0, 8)}.${randomBytes(4).toString('hex')}`);
  try {
    await bind(name);
  } catch (err) {
    // The error names the path the person gave, not the private name.
    if (typeof err === 'object' && err !== null) {
      const e = err as NodeJS.ErrnoException & { address?: string };
      if (e.address === name) e.address = path;
      if (typeof e.message === 'string') e.message = e.message.split(name).join(path);
    }
    throw err;
  }
  try {
    try {
      linkSync(name, path);
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
      // Something appeared at the path since it was cleared: the same rule again, once.
      await clearSocketPath(path);
      linkSync(name, path);
    }
    unlinkSync(name);
    const { dev, ino } = lstatSync(path);
    return { path, dev, ino };
  } catch (err) {
    try {
      unlinkSync(name);
    } catch {
      // Already gone.
    }
    await unbind();
    throw err;
  }
}

/** On stop: removes the socket file if it is still the one bound here; anything else is left alone. */
export function removeSocketFile(file: SocketFile): void {
  try {
    const { dev, ino } = lstatSync(file.path);
    if (dev === file.dev && ino === file.ino) unlinkSync(file.path);
  } catch {
    // Gone already, or not ours to look at: nothing to remove.
  }
}
