/**
 * Why a listener could not bind, said once for every kind of socket echod opens (tcp, tls,
 * unix, udp, the admin endpoint) under Node and Bun alike: both runtimes reject with an errno
 * `code` and the `address`/`port` they tried, so one mapping turns either into one line naming
 * the listener, the cause and what to change. Also the clashes echod can see before binding
 * (the same address twice, the admin port on a listener's), which would otherwise surface as
 * a puzzling "in use" against echod itself.
 */
import { existsSync, fstatSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { EchodError } from '../core/errors.js';

/** Ports below this need root or CAP_NET_BIND_SERVICE on Linux (net.ipv4.ip_unprivileged_port_start). */
const FIRST_UNPRIVILEGED_PORT = 1024;

/** A socket echod binds, as far as binding is concerned. */
export interface BindTarget {
  /** How a person named it: `tcp://127.0.0.1:8080`, `--admin-port 9090 (127.0.0.1:9090)`. */
  label: string;
  /** `stream` for tcp, tls, unix and the admin endpoint (one TCP port space); `datagram` for udp. */
  kind: 'stream' | 'datagram';
  host?: string;
  port?: number;
  path?: string;
  /** An inherited socket (systemd socket activation): its fd. */
  fd?: number;
}

/**
 * A listener could not be bound; `message` is the one line to show, `target` what failed.
 * `configuration`: no retry can succeed, the configuration must change (a datagram socket
 * from systemd): the CLI exits 2, which echod.service does not restart on.
 */
export class BindError extends EchodError {
  readonly target: string;
  readonly configuration: boolean;

  constructor(target: string, message: string, options?: ErrorOptions & { configuration?: boolean }) {
    super('ERR_ECHOD_BIND', message, options);
    this.target = target;
    this.configuration = options?.configuration ?? false;
  }
}

const WILDCARDS: ReadonlySet<string> = new Set(['0.0.0.0', '::', '']);

/** `host:port` as a person types it (`[::1]:8080`). */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * The bind failure `err` (from Node or Bun) of one of `targets`, as one line with a hint. The
 * target is the one whose address the error names; with no match, the only target if there is
 * one, else the error's own address. An inherited socket's error carries its `fd` (node.ts).
 */
export function bindError(err: unknown, targets: readonly BindTarget[]): BindError {
  const e = (typeof err === 'object' && err !== null ? err : {}) as NodeJS.ErrnoException & {
    address?: string;
    port?: number;
    fd?: number;
  };
  const code = e.code ?? 'UNKNOWN';
  const datagram = e.syscall === 'bind';
  const inherited = targets.find((t) => t.fd !== undefined && t.fd === e.fd);
  if (inherited?.fd !== undefined) {
    const refused = code === 'EINVAL';
    return new BindError(
      inherited.label,
      `cannot listen on ${inherited.label}: ${refused ? notStream(inherited.fd) : `${code} on fd ${inherited.fd}`}`,
      { cause: err, configuration: refused },
    );
  }
  const target =
    targets.find((t) => t.path !== undefined && t.path === e.address) ??
    targets.find(
      (t) =>
        t.port !== undefined &&
        t.port === e.port &&
        (t.kind === 'datagram') === datagram &&
        (t.host === e.address || e.address === undefined),
    ) ??
    targets.find((t) => t.port !== undefined && t.port === e.port) ??
    // Bun's udp bind error names the address but not the port.
    only(targets.filter((t) => t.port !== undefined && (t.kind === 'datagram') === datagram && t.host === e.address)) ??
    only(targets);
  const label =
    target?.label ?? (e.address !== undefined ? (e.port !== undefined ? hostPort(e.address, e.port) : e.address) : 'a listener');
  const path = target?.path ?? (e.port === undefined && e.address?.startsWith('/') === true ? e.address : undefined);
  const host = target?.host ?? e.address ?? '';
  const port = e.port !== undefined && e.port !== 0 ? e.port : target?.port;
  const where = path ?? (port !== undefined ? hostPort(host, port) : host);
  return new BindError(label, `cannot listen on ${label}: ${cause(code, { path, host, port, where })}`, { cause: err });
}

/**
 * Why listen() refused an inherited socket (EINVAL): not a listening stream socket. Node can
 * adopt a datagram fd (dgram's bind({ fd })) but cannot tell an fd's socket type beforehand
 * (no getsockopt), and LISTEN_FDS says nothing of it, so echod serves stream sockets only.
 */
function notStream(fd: number): string {
  if (socketTypeOf(fd) === 'datagram') {
    return 'it is a datagram socket (ListenDatagram=); echod serves stream sockets from socket activation: use ListenStream=, or listen on udp:// yourself';
  }
  return 'it is not a listening stream socket (a datagram socket from ListenDatagram=, or one connection from Accept=yes); echod serves listening stream sockets from socket activation: use ListenStream= with Accept=no';
}

/** `datagram` when /proc/net (Linux, where systemd runs) lists `fd`'s socket as a udp or unix datagram one. */
function socketTypeOf(fd: number): 'datagram' | 'other' {
  let inode: string;
  try {
    const stat = fstatSync(fd);
    if (!stat.isSocket()) return 'other';
    inode = String(stat.ino);
  } catch {
    return 'other';
  }
  const rows = (table: string): string[][] => {
    try {
      return readFileSync(`/proc/net/${table}`, 'utf8')
        .split('\n')
        .slice(1)
        .map((row) => row.trim().split(/\s+/));
    } catch {
      return [];
    }
  };
  // udp tables: the inode is column 9; unix: the type is column 4 (0002, SOCK_DGRAM), the inode column 6.
  const udp = ['udp', 'udp6', 'udplite', 'udplite6'].some((table) => rows(table).some((row) => row[9] === inode));
  return udp || rows('unix').some((row) => row[6] === inode && row[4] === '0002') ? 'datagram' : 'other';
}

function only<T>(items: readonly T[]): T | undefined {
  return items.length === 1 ? items[0] : undefined;
}

function cause(code: string, at: { path: string | undefined; host: string; port: number | undefined; where: string }): string {
  switch (code) {
    case 'EADDRINUSE':
      return at.path !== undefined
        ? `${at.path} is a socket another running process serves (stop it, or choose another path)`
        : `${at.where} is in use by another process (stop it, or choose another port)`;
    case 'EEXIST':
      // socket-file.ts refuses to bind over anything that is not a socket.
      return at.path !== undefined
        ? `${at.path} exists and is not a socket; echod leaves it untouched (remove it, or choose another path)`
        : `${at.where} exists`;
    case 'EADDRNOTAVAIL':
      return `${at.host} is not an address of this host (use one of its addresses, or 0.0.0.0 / :: for all of them)`;
    case 'EACCES':
    case 'EPERM':
      // Node reports a missing directory as EACCES.
      if (at.path !== undefined && !existsSync(dirname(at.path)))
        return `the directory ${dirname(at.path)} does not exist (create it, or choose another path)`;
      if (at.path !== undefined) return `permission denied creating ${at.path} (choose a directory echod may write to)`;
      if (at.port !== undefined && at.port < FIRST_UNPRIVILEGED_PORT) {
        return `port ${at.port} is below ${FIRST_UNPRIVILEGED_PORT} and needs the CAP_NET_BIND_SERVICE capability (grant it, e.g. setcap cap_net_bind_service=+ep to the runtime, or choose a port from ${FIRST_UNPRIVILEGED_PORT})`;
      }
      return `permission denied binding ${at.where}`;
    case 'ENOENT':
      return at.path !== undefined
        ? `the directory ${dirname(at.path)} does not exist (create it, or choose another path)`
        : `${at.where}: no such address`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return `the host name ${at.host} does not resolve (use an IP address, or fix the name)`;
    case 'EAFNOSUPPORT':
      return `this host has no ${at.host.includes(':') ? 'IPv6' : 'IPv4'} (listen on an address of the other family)`;
    case 'ENAMETOOLONG':
      return `the path ${at.path ?? at.where} is too long for a unix socket (at most 107 bytes; choose a shorter one)`;
    default:
      return `${code} on ${at.where}`;
  }
}

/**
 * The first pair of `targets` that would fight over one address, as a BindError naming both,
 * or null. Port 0 never clashes (the system picks a free one); a wildcard host clashes with
 * every host of its family (`::` with both); tcp, tls and the admin endpoint share TCP's ports.
 */
export function bindConflict(targets: readonly BindTarget[]): BindError | null {
  for (let i = 0; i < targets.length; i++) {
    for (let j = i + 1; j < targets.length; j++) {
      const a = targets[i] as BindTarget;
      const b = targets[j] as BindTarget;
      if (!clash(a, b)) continue;
      const what = a.path !== undefined ? a.path : `${a.kind === 'datagram' ? 'UDP' : 'TCP'} port ${a.port}`;
      const message =
        a.label === b.label
          ? `${a.label} is given twice (remove one)`
          : `${a.label} and ${b.label} both bind ${what} (give each its own ${a.path !== undefined ? 'path' : 'port'})`;
      return new BindError(b.label, message);
    }
  }
  return null;
}

function clash(a: BindTarget, b: BindTarget): boolean {
  if (a.path !== undefined || b.path !== undefined) return a.path !== undefined && a.path === b.path;
  if (a.kind !== b.kind || a.port === undefined || a.port === 0 || a.port !== b.port) return false;
  const hostA = a.host ?? '';
  const hostB = b.host ?? '';
  if (hostA === hostB || hostA === '::' || hostB === '::') return true;
  const v6 = (host: string): boolean => host.includes(':');
  return (WILDCARDS.has(hostA) || WILDCARDS.has(hostB)) && v6(hostA) === v6(hostB);
}
