/**
 * One client connection over a node:net socket: the thin transport around a framer.
 *
 * Handlers are defined once at module level and find their connection through the socket
 * (no closures per connection: memory per held connection is a target). The socket has an
 * 'error' listener from its first moment, and nothing one connection does can throw into
 * another or into the process.
 */
import type { Socket } from 'node:net';
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
  readonly logMessages: boolean;
  readonly logContent: boolean;
  onClose(connection: Connection): void;
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

export class Connection {
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
  private stallTimer: NodeJS.Timeout | null = null;
  private lingerTimer: NodeJS.Timeout | null = null;

  constructor(id: number, socket: Socket, framer: Framer, context: ConnectionContext) {
    this.id = id;
    this.socket = socket;
    this.framer = framer;
    this.context = context;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    this.openedAt = Date.now();
    (socket as ConnectionSocket)[kConnection] = this;
    socket.on('data', context.logMessages ? onDataLogged : onData);
    socket.on('end', onEnd);
    socket.on('drain', onDrain);
    socket.on('close', onClose);
    if (context.idleTimeoutMs > 0) {
      socket.setTimeout(context.idleTimeoutMs);
      socket.on('timeout', onIdle);
    }
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
    this.lingerTimer = setTimeout(onLingerExpired, this.context.drainTimeoutMs, this);
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
    if (this.context.writeStallTimeoutMs > 0 && this.stallTimer === null) {
      this.stallTimer = setTimeout(onStalled, this.context.writeStallTimeoutMs, this);
    }
  }

  onDrained(): void {
    if (this.stallTimer !== null) {
      clearTimeout(this.stallTimer);
      this.stallTimer = null;
    }
    this.socket.resume();
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
    if (this.stallTimer !== null) clearTimeout(this.stallTimer);
    if (this.lingerTimer !== null) clearTimeout(this.lingerTimer);
    this.stallTimer = null;
    this.lingerTimer = null;
    this.context.onClose(this);
  }

  /** The framer's verdict on one chunk, echoed in one write. */
  echo(chunk: Buffer): Buffer {
    const framer = this.framer;
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
  connectionOf(this).echo(chunk);
}

/** The same as onData, with the seed's per-message log: sizes at debug, content at trace. */
function onDataLogged(this: Socket, chunk: Buffer): void {
  const connection = connectionOf(this);
  const { logger, logContent } = connection.context;
  const out = connection.echo(chunk);
  logger.debug({ connId: connection.id, bytes: chunk.length, echoed: out.length, lines: lineCount(out) }, 'message received');
  if (logContent && out.length > 0) logContentOf(connection, out);
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
  connectionOf(this).onEnded();
}

function onDrain(this: Socket): void {
  connectionOf(this).onDrained();
}

function onClose(this: Socket): void {
  connectionOf(this).onClosed();
}

function onIdle(this: Socket): void {
  connectionOf(this).close('idle_timeout');
}

function onStalled(connection: Connection): void {
  connection.destroy('write_stalled', false);
}

function onLingerExpired(connection: Connection): void {
  connection.destroy(connection.reason ?? 'error', true);
}

/**
 * The listener every accepted socket gets before anything else: an error on one socket is
 * recorded on its connection (if it has one yet) and goes no further.
 */
export function onSocketError(this: Socket, err: NodeJS.ErrnoException): void {
  const connection = (this as Partial<ConnectionSocket>)[kConnection];
  connection?.onErrored(err);
}
