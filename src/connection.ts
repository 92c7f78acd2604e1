/**
 * One client connection over a node:net socket: the thin transport around a framer.
 *
 * Handlers are defined once at module level and find their connection through the socket
 * (no closures per connection: memory per held connection is a target). The socket has an
 * 'error' listener from its first moment, and nothing one connection does can throw into
 * another or into the process.
 */
import type { Socket } from 'node:net';
import type { CoarseClock, Expirable } from './deadlines.js';
import type { Framer } from './framing.js';
import { escapeBytes, type Logger } from './log.js';
import type { CloseReason } from './stats.js';

/** What every connection of one server shares. One object per server, not per connection. */
export interface ConnectionContext {
  readonly logger: Logger;
  readonly idleTimeoutMs: number;
  readonly writeStallTimeoutMs: number;
  /** How long a closing connection may take to flush and finish before it is destroyed. */
  readonly drainTimeoutMs: number;
  /** Read on the byte path to stamp activity; moved forward by the server's deadline sweep. */
  readonly clock: CoarseClock;
  readonly logMessages: boolean;
  readonly logContent: boolean;
  onClose(connection: Connection): void;
  /** An unexpected exception while handling `connection` (a bug): log and count it. */
  onInternalError(connection: Connection, err: unknown): void;
}

/**
 * `open`: echoing. `closing`: our side has ended (FIN sent after the last echo); input is
 * read and discarded until the peer finishes or `drainTimeoutMs` passes. `closed`: gone.
 */
export type ConnectionState = 'open' | 'closing' | 'closed';

const kConnection = Symbol('echod.connection');
type ConnectionSocket = Socket & { [kConnection]: Connection };

/** Error codes that mean the peer went away abruptly, not that something is wrong here. */
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

export class Connection implements Expirable {
  readonly id: number;
  readonly socket: Socket;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly openedAt: number;
  state: ConnectionState = 'open';
  reason: CloseReason | null = null;
  /** True when the connection had to be destroyed because it did not finish in time. */
  forced = false;
  lines = 0;
  errorCode: string | null = null;
  readonly context: ConnectionContext;
  private readonly framer: Framer;
  /** Clock time of the last bytes in either direction (idle deadline). */
  private lastActive: number;
  /** Clock time the client stopped taking our output, or -1 (write-stall deadline). */
  private blockedSince = -1;
  /** Clock time close() began, or -1 (drain deadline). */
  private closingSince = -1;

  constructor(id: number, socket: Socket, framer: Framer, context: ConnectionContext) {
    this.id = id;
    this.socket = socket;
    this.framer = framer;
    this.context = context;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    this.openedAt = Date.now();
    this.lastActive = context.clock.now;
    (socket as ConnectionSocket)[kConnection] = this;
    socket.on('data', context.logMessages ? onDataLogged : onData);
    socket.on('end', onEnd);
    socket.on('drain', onDrain);
    socket.on('close', onClose);
  }

  get bytesReceived(): number {
    return this.socket.bytesRead;
  }

  get bytesSent(): number {
    return this.socket.bytesWritten;
  }

  /** Bytes of an unfinished line held for this connection. */
  get pendingBytes(): number {
    return this.framer.pendingBytes;
  }

  /**
   * Ends the connection gracefully: whatever was received is echoed (an unterminated last line
   * included), our side is closed, and the socket is destroyed if the peer has not finished
   * within `drainTimeoutMs`. Harmless on a connection that is already closing.
   */
  close(reason: CloseReason): void {
    if (this.state !== 'open') return;
    this.reason = reason;
    this.state = 'closing';
    const socket = this.socket;
    if (socket.destroyed) return; // 'close' is on its way
    const tail = this.framer.flush();
    if (tail.length > 0) socket.write(tail);
    // Keep reading (and discarding) so the peer's FIN is seen and the kernel never has
    // unread data to answer with a reset that could cost the peer its last echoes.
    socket.removeAllListeners('data');
    socket.on('data', discard);
    socket.end();
    socket.resume();
    this.closingSince = this.context.clock.now;
  }

  /** Destroys the socket at once, keeping the first reason given. */
  destroy(reason: CloseReason, forced: boolean): void {
    if (this.state === 'closed') return;
    this.reason ??= reason;
    this.forced = forced;
    this.socket.destroy();
  }

  /** The client is not taking our output: stop reading from it until it does. */
  onBlocked(): void {
    this.socket.pause();
    if (this.blockedSince === -1) this.blockedSince = this.context.clock.now;
  }

  onDrained(): void {
    this.blockedSince = -1;
    this.lastActive = this.context.clock.now;
    this.socket.resume();
  }

  /** The deadline sweep: `slack` keeps a deadline from firing early on a coarse stamp. */
  expire(now: number, slack: number): void {
    const { idleTimeoutMs, writeStallTimeoutMs, drainTimeoutMs } = this.context;
    if (this.state === 'closing') {
      if (now - this.closingSince >= drainTimeoutMs + slack) this.destroy(this.reason ?? 'error', true);
    } else if (this.state === 'open') {
      if (this.blockedSince !== -1) {
        if (writeStallTimeoutMs > 0 && now - this.blockedSince >= writeStallTimeoutMs + slack) this.destroy('write_stalled', false);
      } else if (idleTimeoutMs > 0 && now - this.lastActive >= idleTimeoutMs + slack) {
        this.close('idle_timeout');
      }
    }
  }

  onEnded(): void {
    if (this.state !== 'open') return;
    this.close('client_closed');
  }

  onErrored(err: NodeJS.ErrnoException): void {
    const code = err.code ?? 'UNKNOWN';
    this.errorCode = code;
    this.reason ??= RESET_CODES.has(code) ? 'reset' : 'error';
  }

  onClosed(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.reason ??= 'client_closed';
    this.context.onClose(this);
  }

  /**
   * The safety net: a bug in handling this connection ends this connection (reason `error`),
   * is logged and counted, and goes no further. Tests show it is never reached.
   */
  fail(err: unknown): void {
    this.context.onInternalError(this, err);
    this.destroy('error', false);
  }

  /** The framer's verdict on one chunk, echoed in one write. */
  echo(chunk: Buffer): Buffer {
    const framer = this.framer;
    this.lastActive = this.context.clock.now;
    const out = framer.push(chunk);
    this.lines += framer.lines;
    if (out.length !== 0 && !this.socket.write(out)) this.onBlocked();
    if (framer.overflowed) this.close('line_too_long');
    return out;
  }
}

function connectionOf(socket: Socket): Connection {
  return (socket as ConnectionSocket)[kConnection];
}

function onData(this: Socket, chunk: Buffer): void {
  const connection = connectionOf(this);
  try {
    connection.echo(chunk);
  } catch (err) {
    connection.fail(err);
  }
}

/** The same as onData, with the seed's per-message log: sizes at debug, content at trace. */
function onDataLogged(this: Socket, chunk: Buffer): void {
  const connection = connectionOf(this);
  const { logger, logContent } = connection.context;
  try {
    const out = connection.echo(chunk);
    logger.debug({ connId: connection.id, bytes: chunk.length, echoed: out.length, lines: lineCount(out) }, 'message received');
    if (logContent && out.length > 0) logContentOf(connection, out);
  } catch (err) {
    connection.fail(err);
  }
}

/** One trace line per echoed line (or per raw chunk), the bytes escaped. */
function logContentOf(connection: Connection, out: Buffer): void {
  const { logger } = connection.context;
  let start = 0;
  for (let nl = out.indexOf(0x0a); nl !== -1; nl = out.indexOf(0x0a, start)) {
    logger.trace({ connId: connection.id, data: escapeBytes(out.subarray(start, nl + 1)) }, 'line');
    start = nl + 1;
  }
  if (start < out.length) logger.trace({ connId: connection.id, data: escapeBytes(out.subarray(start)) }, 'data');
}

function lineCount(out: Buffer): number {
  let count = 0;
  for (let nl = out.indexOf(0x0a); nl !== -1; nl = out.indexOf(0x0a, nl + 1)) count++;
  return count;
}

function discard(): void {}

function onEnd(this: Socket): void {
  const connection = connectionOf(this);
  try {
    connection.onEnded();
  } catch (err) {
    connection.fail(err);
  }
}

function onDrain(this: Socket): void {
  const connection = connectionOf(this);
  try {
    connection.onDrained();
  } catch (err) {
    connection.fail(err);
  }
}

function onClose(this: Socket): void {
  const connection = connectionOf(this);
  try {
    connection.onClosed();
  } catch (err) {
    connection.context.onInternalError(connection, err);
  }
}

/**
 * The listener every accepted socket gets before anything else: an error on one socket is
 * recorded on its connection (if it has one yet) and goes no further.
 */
export function onSocketError(this: Socket, err: NodeJS.ErrnoException): void {
  const connection = (this as Partial<ConnectionSocket>)[kConnection];
  connection?.onErrored(err);
}
