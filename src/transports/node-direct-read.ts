/**
 * Direct reads: the one place echod depends on node:net internals.
 *
 * A socket built with `onread` (documented on net.connect, not offered by net.Server) reads into
 * a buffer the program gives it and hands one callback the byte count, skipping the per-read
 * allocation and the Readable path (figures: docs/performance.md, "Direct reads"). To get that
 * for accepted sockets, the listening handle's accept callback (`onconnection`, which lib/net.js
 * sets on every listening handle, a cluster worker's round-robin stand-in included) is replaced
 * by one that builds the `net.Socket` as node:net's own does, with `onread` added.
 *
 * What that relies on is checked before anything is replaced (`directReadShape`): the server's
 * `_handle`, its `onconnection` being lib/net.js's two-argument accept callback, and the accepted
 * handles' `useUserBuffer` / `readStart` / `readStop` (what the Socket constructor and reads call)
 * — on the listening handle when it is itself a stream handle (same class as the ones it
 * accepts), else on each accepted handle. If anything differs, nothing is replaced (or that
 * socket goes to node's own accept callback), one warning says so, and the server's 'connection'
 * event serves as on every other path. test/integration/direct-read-shape.test.ts fails if a Node changes it.
 */
import type { Server } from 'node:net';
import { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { Logger } from '../core/log.js';

/** lib/net.js's accept callback, as set on listening handles in Node 20, 22 and 24: `function onconnection(err, clientHandle)`. */
const ACCEPT_CALLBACK = { name: 'onconnection', arity: 2 } as const;
/** What a socket built over an accepted handle with `onread` calls on it (net.js initSocketHandle, stream reads). */
const STREAM_HANDLE_METHODS = ['useUserBuffer', 'readStart', 'readStop'] as const;
/** Bytes libuv reads at most into the shared buffer per call. */
const READ_BUFFER_BYTES = 64 * 1024;

type AcceptCallback = (status: number, clientHandle?: object) => void;
/** node:net's listening handle (a TCP or Pipe wrap, or cluster's round-robin stand-in). */
type AcceptHandle = Record<string, unknown> & { onconnection: AcceptCallback };

/**
 * The sockets `acceptDirect` builds: their bytes go to the listener's `onBytes`, never to 'data'
 * events. A class of their own rather than a mark on each socket (a property per socket).
 */
class DirectSocket extends Socket {}

/** True for a socket whose bytes `acceptDirect` delivers. */
export function isDirect(socket: Socket): boolean {
  return socket instanceof DirectSocket;
}

/** The client's address and port, as node:net's `remoteAddress` and `remotePort` give them. */
export interface SocketPeer {
  address: string;
  port: number;
}

type PeerNameHandle = { getpeername?: (out: { address?: string; port?: number }) => number };

/**
 * Asks the accepted handle for its peer, as node:net's `remoteAddress` getter does, without
 * node:net keeping the answer on the socket (`_peername`: an object per held connection that
 * nothing reads again). Unix sockets have no peer address: '' and 0.
 */
function peerOf(handle: PeerNameHandle): SocketPeer {
  const out: { address?: string; port?: number } = {};
  if (typeof handle.getpeername === 'function') handle.getpeername(out);
  return { address: out.address ?? '', port: out.port ?? 0 };
}

/**
 * Every directly read socket's read buffer: libuv reads into it, and the read callback copies the
 * bytes out before anything else runs, so one buffer serves every connection (a buffer per
 * connection would cost up to 64 KiB each). It cannot be handed on as it is: a write the kernel
 * does not take at once keeps a pointer to its bytes, and the next read, of any socket, would
 * overwrite them.
 */
const directReadBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);

function sharedReadBuffer(): Buffer {
  return directReadBuffer;
}

/** Why `handle` cannot be read directly (the stream methods it lacks), or null. */
function streamHandleGap(handle: object): string | null {
  const missing = STREAM_HANDLE_METHODS.filter((method) => typeof (handle as Record<string, unknown>)[method] !== 'function');
  return missing.length === 0 ? null : `the accepted handle has no ${missing.join(', ')}`;
}

/**
 * Null if `server` (listening) is the shape direct reads rely on, else what differs. Checked at
 * start-up, before anything is replaced.
 */
export function directReadShape(server: Server): string | null {
  const handle = (server as Server & { _handle?: unknown })._handle;
  if (handle === null || typeof handle !== 'object') return 'the server has no listening handle (_handle)';
  const accept = (handle as Record<string, unknown>).onconnection;
  if (typeof accept !== 'function') return 'the listening handle has no onconnection function';
  if (accept.name !== ACCEPT_CALLBACK.name || accept.length !== ACCEPT_CALLBACK.arity) {
    return `onconnection is not node:net's accept callback (${accept.name || 'anonymous'}, ${accept.length} arguments; expected ${ACCEPT_CALLBACK.name}, ${ACCEPT_CALLBACK.arity})`;
  }
  // A TCP or Pipe wrap is the class of the handles it accepts; cluster's stand-in is no stream
  // handle at all, so its workers' accepted handles are checked as they come (acceptDirect).
  if (typeof (handle as Record<string, unknown>).readStart === 'function') return streamHandleGap(handle);
  return null;
}

export interface DirectReadOptions {
  /** The listener, as logs name it. */
  listener: string;
  /** Sockets start paused (`--accept-then-hang`): node:net's `pauseOnConnect`. */
  pauseOnCreate: boolean;
  noDelay: boolean;
  /** Each accepted socket, built, and its peer: its first listener is the caller's. */
  onSocket: (socket: Socket, peer: SocketPeer) => void;
  /** A direct socket's bytes, copied out of the shared buffer (the caller owns the chunk). */
  onBytes: (socket: Socket, chunk: Buffer) => void;
  logger: Logger;
}

/**
 * Reads `server`'s accepted sockets directly, if its handle is the expected shape: true when the
 * accept callback was replaced. Otherwise it logs one warning and leaves node:net as it is (the
 * caller's 'connection' listener serves). Under Bun nothing is replaced and nothing is logged:
 * its node:net is not built this way, and tcp there goes through Bun.listen anyway.
 */
export function acceptDirect(server: Server, options: DirectReadOptions): boolean {
  if (process.versions.bun !== undefined) return false;
  const { listener, pauseOnCreate, noDelay, onSocket, onBytes, logger } = options;
  const differs = directReadShape(server);
  if (differs !== null) {
    warnFallback(logger, listener, differs);
    return false;
  }
  const handle = (server as Server & { _handle: AcceptHandle })._handle;
  const nodeAccept = handle.onconnection;
  let warned = false;
  // One callback per listener, not per socket; node calls it with the socket as `this`.
  const onread = {
    buffer: sharedReadBuffer,
    callback(this: Socket, bytes: number, buffer: Uint8Array): boolean {
      const chunk = Buffer.allocUnsafe(bytes);
      chunk.set(buffer.subarray(0, bytes));
      onBytes(this, chunk);
      return true;
    },
  };
  handle.onconnection = (status, clientHandle) => {
    if (status !== 0 || clientHandle === undefined) {
      server.emit('error', acceptError(status));
      return;
    }
    const gap = streamHandleGap(clientHandle);
    if (gap !== null) {
      if (!warned) warnFallback(logger, listener, gap);
      warned = true;
      nodeAccept.call(handle, status, clientHandle);
      return;
    }
    // `handle` and `pauseOnCreate` are what node:net's own accept passes (absent from the typings).
    const socketOptions = { handle: clientHandle, allowHalfOpen: true, pauseOnCreate, readable: true, writable: true, onread };
    const socket = new DirectSocket(socketOptions);
    if (noDelay) socket.setNoDelay(true);
    onSocket(socket, peerOf(clientHandle));
  };
  return true;
}

function warnFallback(logger: Logger, listener: string, differs: string): void {
  logger.warn(
    { listener, differs },
    "direct reads off: node:net's listening handle is not the shape echod expects; reading through node:net's 'data' events",
  );
}

/** The error node:net's server emits when accept() fails (EMFILE, ENFILE…). */
function acceptError(status: number): NodeJS.ErrnoException {
  let code = 'UNKNOWN';
  try {
    code = getSystemErrorName(status);
  } catch {
    // Not an errno: keep UNKNOWN.
  }
  return Object.assign(new Error(`accept ${code}`), { errno: status, code, syscall: 'accept' });
}
