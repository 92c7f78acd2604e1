/**
 * Whether each `--workers` process can accept on a listening socket of its own (SO_REUSEPORT),
 * the kernel spreading new connections over them, instead of node:cluster's round-robin, where
 * the primary accepts every connection and passes it to a worker over IPC.
 *
 * - Bun: always (Bun.listen's `reusePort`; Bun's cluster module cannot pass handles anyway).
 * - Node: `listen({ reusePort: true })` exists from 22.12 and 23.1, on Linux and FreeBSD among
 *   the systems echod runs on. With `exclusive: true` a cluster worker then binds the port itself
 *   rather than asking the primary for it. On older Node (20) the workers use round-robin.
 */

/** Node versions whose `server.listen()` takes `reusePort`. */
const NODE_REUSE_PORT_SINCE: Readonly<Record<number, number>> = { 22: 12, 23: 1 };
/** Systems where Node documents `reusePort` and echod is tested or plausible. */
const REUSE_PORT_PLATFORMS: readonly string[] = ['linux', 'freebsd'];

/** True when this Node's `server.listen()` binds with SO_REUSEPORT when asked (`reusePort: true`). */
export function nodeListenReusePort(version: string = process.versions.node, platform: string = process.platform): boolean {
  if (!REUSE_PORT_PLATFORMS.includes(platform)) return false;
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const since = NODE_REUSE_PORT_SINCE[major];
  return since !== undefined ? minor >= since : major >= 24;
}

/** How `--workers` processes get their connections on this runtime (the primary logs it). */
export function workersAccept(): 'reuseport' | 'round-robin' {
  return process.versions.bun !== undefined || nodeListenReusePort() ? 'reuseport' : 'round-robin';
}
