/**
 * Direct writes: the one place bench depends on node:net internals.
 *
 * At depth 1 a bench message costs one write and one read system call, and Node's stream write
 * path around the write costs the client as much again as all of bench's own work: a WriteWrap
 * object per write, the Writable's bookkeeping, and a `process.nextTick` for the write's
 * callback, which makes every read callback run the tick queue on its way out (figures:
 * docs/tools.md, "How bench's figures compare with echoload"). A connected TCP socket's handle
 * has the method that path ends in, `writeBuffer(req, bytes)`: it tries the write at once and
 * only when the kernel does not take all of it queues the rest, keeping `req` until it is done.
 * So bench calls it directly, with one request object per connection that is reused until a
 * write goes asynchronous (node:net's own `createWriteWrap` and `afterWriteDispatched` do the
 * same steps, minus the reuse).
 *
 * It relies on `process.binding('stream_wrap')` (WriteWrap, streamBaseState, kLastWriteWasAsync)
 * and on the handle's `writeBuffer`, checked once (`directWriteShape`); if anything differs, or
 * under Bun, or when Node is asked to warn about pending deprecations (process.binding is one),
 * bench writes through `socket.write` as before. Bytes written this way bypass the Writable, so
 * the socket's `bytesWritten` and `writableLength` do not count them; nothing in bench reads them.
 * The bytes must stay unchanged until written: bench's ring slots are rewritten only after their
 * echo has been checked, long after. test/integration/bench-direct-write.test.ts fails if a Node
 * changes the shape.
 */
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';

/** A write request: what node:net's WriteWrap is to JavaScript (lib/internal/stream_base_commons.js). */
interface WriteRequest {
  /** Called when a queued (asynchronous) write finishes: status 0 or a negative errno. */
  oncomplete: (status: number) => void;
  /** Keeps the bytes reachable while a queued write holds a pointer to them. */
  buffer: Uint8Array | null;
}

interface StreamWrapBinding {
  WriteWrap: new () => WriteRequest;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
}

/** A connected TCP handle, as far as direct writes use it: returns 0 or a negative errno. */
interface WritableHandle {
  writeBuffer(req: WriteRequest, data: Uint8Array): number;
}

/** Sends bytes on one socket; a failure destroys the socket with the error (its 'error' event reports it). */
export type Writer = (data: Uint8Array) => void;

type BindingProcess = NodeJS.Process & { binding?: (name: string) => unknown };

let probed = false;
let binding: StreamWrapBinding | null = null;
let why: string | null = null;

/** True when Node would print a deprecation warning for process.binding (DEP0111). */
function warnsOnBinding(): boolean {
  const env = process.env;
  return (
    process.execArgv.includes('--pending-deprecation') ||
    (env.NODE_OPTIONS ?? '').includes('--pending-deprecation') ||
    env.NODE_PENDING_DEPRECATION === '1'
  );
}

function probe(): void {
  probed = true;
  if (process.versions.bun !== undefined) {
    why = 'Bun has no node:net stream handles';
    return;
  }
  if (warnsOnBinding()) {
    why = 'Node warns about process.binding under --pending-deprecation';
    return;
  }
  const bind = (process as BindingProcess).binding;
  if (typeof bind !== 'function') {
    why = 'process.binding is missing';
    return;
  }
  let found: unknown;
  try {
    found = bind.call(process, 'stream_wrap');
  } catch (err) {
    why = `process.binding('stream_wrap') failed: ${err instanceof Error ? err.message : String(err)}`;
    return;
  }
  const candidate = found as Partial<StreamWrapBinding> | null;
  if (candidate === null || typeof candidate !== 'object') why = "process.binding('stream_wrap') is not an object";
  else if (typeof candidate.WriteWrap !== 'function') why = 'stream_wrap has no WriteWrap';
  else if (!(candidate.streamBaseState instanceof Int32Array)) why = 'stream_wrap has no streamBaseState';
  else if (typeof candidate.kLastWriteWasAsync !== 'number') why = 'stream_wrap has no kLastWriteWasAsync';
  else binding = candidate as StreamWrapBinding;
}

/** Null if this runtime offers what direct writes rely on, else what differs. Checked once. */
export function directWriteShape(): string | null {
  if (!probed) probe();
  return why;
}

type HandledSocket = Socket & { _handle?: unknown };

function handleOf(socket: Socket): WritableHandle | null {
  const handle = (socket as HandledSocket)._handle;
  if (handle === null || typeof handle !== 'object') return null;
  return typeof (handle as Partial<WritableHandle>).writeBuffer === 'function' ? (handle as WritableHandle) : null;
}

/** The error node:net would emit for a failed write (`write EPIPE`, code EPIPE). */
function writeError(status: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(status);
  const err: NodeJS.ErrnoException = new Error(`write ${code}`);
  err.code = code;
  err.errno = status;
  err.syscall = 'write';
  return err;
}

/**
 * A writer for `socket` (connected, plain TCP): direct when the runtime allows it, else
 * `socket.write`. Call it once the socket is connected.
 */
export function writerFor(socket: Socket): Writer {
  const handle = directWriteShape() === null ? handleOf(socket) : null;
  if (handle === null) return (data) => void socket.write(data);
  const { WriteWrap, streamBaseState, kLastWriteWasAsync } = binding as StreamWrapBinding;
  const fail = (status: number): void => {
    if (!socket.destroyed) socket.destroy(writeError(status));
  };
  const oncomplete = (status: number): void => {
    if (status < 0) fail(status);
  };
  let spare: WriteRequest | null = null;
  return (data) => {
    // Destroying the socket closes and forgets its handle: nothing may be written after that.
    if ((socket as HandledSocket)._handle !== handle) return;
    let req = spare;
    if (req === null) {
      req = new WriteWrap();
      req.oncomplete = oncomplete;
      req.buffer = null;
    }
    const status = handle.writeBuffer(req, data);
    if (status !== 0) {
      spare = req;
      fail(status);
    } else if (streamBaseState[kLastWriteWasAsync] !== 0) {
      // Queued: the request is the handle's until it completes.
      req.buffer = data;
      spare = null;
    } else {
      spare = req;
    }
  };
}
