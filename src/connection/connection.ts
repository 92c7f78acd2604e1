/**
 * One client connection, whatever carries it: the rules of a connection's life around the
 * framer — echo, backpressure, deadlines, graceful close — written once. Transports (node:net,
 * Bun's sockets) subclass it and supply the five socket primitives; the byte path stays one
 * call deep in each.
 */
import { type CoarseClock, clockMs, type Expirable } from './deadlines.js';
import type { StreamDigest } from '../core/digest.js';
import type { FaultOptions } from '../config/faults.js';
import type { OutputShaper, ShapedSink } from './shaper.js';
import { type Framer, prefixLines, type SharedLineFramers } from '../core/framing.js';
import { escapeBytes } from '../core/escape.js';
import { type Logger, TRACE_DATA_MAX_BYTES } from '../core/log.js';
import type { ProxyHeader } from '../core/proxy-protocol.js';
import type { CloseReason } from '../core/stats.js';
import type { Admission, Peer } from './transport.js';

/** What a TLS connection negotiated, for its close log line and /stats. */
export interface TlsInfo {
  version: string | null;
  cipher: string | null;
  servername: string | null;
  alpn: string | null;
  /** The client certificate's subject (mTLS), or null. */
  clientSubject: string | null;
  authorized: boolean;
  /** tls:// and https:// listeners: how long the handshake took, from its first byte's turn to done (echod_tls_handshake_duration_seconds). */
  handshakeMs?: number;
}

/** What every connection of one server shares. One object per server, not per connection. */
/** What an http or https connection carries, and how much of it so far (`/connections`). */
export interface HttpActivity {
  protocol: 'http/1.1' | 'h2' | 'websocket';
  /** Requests begun (HTTP/2: streams; a WebSocket's upgrade counts one). */
  requests: number;
  /** WebSocket messages received. */
  messages: number;
}

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
  /** The line framer shared by connections with nothing pending (see SharedLineFramers). */
  readonly lineFramers: SharedLineFramers;
  onClose(connection: Connection): void;
  /** An unexpected exception while handling `connection` (a bug): log and count it. */
  onInternalError(connection: Connection, err: unknown): void;
}

/**
 * What a connection does beyond plain echo, when configured: a per-line prefix, stream digests,
 * output faults. Null on the default path, which then never looks further.
 */
export interface ConnectionExtras {
  prefix: Buffer | null;
  digestIn: StreamDigest | null;
  digestOut: StreamDigest | null;
  shaper: OutputShaper | null;
}

/**
 * `open`: echoing. `closing`: our side has ended (FIN sent after the last echo); input is
 * read and discarded until the peer finishes or `drainTimeoutMs` passes. `closed`: gone.
 */
export type ConnectionState = 'open' | 'closing' | 'closed';

/**
 * After our FIN, at most this much more input is read (and discarded); then reading stops.
 * Enough for a client cut off in the middle of a large write to finish it and read its EOF
 * cleanly; small enough that one ignoring the FIN costs a few tens of milliseconds of reading,
 * not the whole drain timeout at full speed.
 */
export const CLOSE_DISCARD_LIMIT_BYTES = 32 * 1024 * 1024;

const EMPTY: Buffer = Buffer.alloc(0);

/** Error codes that mean the peer went away abruptly, not that something is wrong here. */
const RESET_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/**
 * Bits of `Connection.flags`: the yes/no facts of a connection in one small integer (a field
 * each costs 8 bytes per held connection). Transports number their own from `transport` up.
 */
export const ConnectionFlag = {
  /** Destroyed because it did not finish in time. */
  forced: 1,
  /** `--accept-then-hang`: never read, never echo. */
  hanging: 2,
  /** Our FIN is on its way (see `endOutput()`): input read from now on is discarded. */
  finished: 4,
  /** The first bit a transport may use for itself. */
  transport: 8,
} as const;

/** What only an ending connection has (see `Connection.ending`). */
interface Ending {
  reason: CloseReason | null;
  errorCode: string | null;
  discardedTailBytes: number;
  /** Input read and thrown away after our FIN (see `discarded()`). */
  discardedBytes: number;
  /** Clock time close() began, or -1 (drain deadline). */
  closingSince: number;
}

export abstract class Connection implements Expirable, ShapedSink {
  // Fields are laid out in this order: those the byte path reads on every chunk come first, so
  // that one cache line of a connection serves a read (conns1k: 1,000 connections take turns).
  readonly context: ConnectionContext;
  /** Its own framer, or null: the server's shared idle line framer, until a chunk leaves part of a line in it (see `echo()`). */
  private framer: Framer | null;
  state: ConnectionState = 'open';
  extras: ConnectionExtras | null = null;
  /**
   * Complete (newline-terminated) lines echoed back: counted when handed to the transport, so
   * lines a close-after fault cut off or a delay still held at the close are not counted.
   * Logs, /stats, /connections and echod_lines_total all read this one count.
   */
  lines = 0;
  /** Clock time of the last bytes in either direction (idle deadline). */
  lastActive: number;
  /** Clock time the client stopped taking our output, or -1 (write-stall deadline). */
  private blockedSince = -1;
  /** `ConnectionFlag` bits, the transport's own included. */
  protected flags = 0;
  readonly id: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** When the connection was accepted, in `clockMs()` units. */
  readonly openedAt: number;
  /** The listener's URL form (tcp://0.0.0.0:8080). */
  readonly listener: string;
  readonly faults: FaultOptions | null;
  /** The transport's peer when a PROXY header came with it (its `via` and `proxy`), else null: one field for two rare ones. */
  private readonly proxied: Peer | null;
  tls: TlsInfo | null = null;
  /** Made when the connection starts to end (a reason, an error): until then one field, not five. */
  private ending: Ending | null = null;

  constructor(admission: Admission, peer: Peer) {
    const { id, framer, context } = admission;
    this.context = context;
    this.framer = framer;
    this.lastActive = context.clock.now;
    this.id = id;
    this.remoteAddress = peer.address;
    this.remotePort = peer.port;
    this.openedAt = clockMs();
    this.listener = admission.listener;
    this.faults = admission.faults;
    this.proxied = peer.via !== undefined || peer.proxy !== undefined ? peer : null;
  }

  /** The socket's own peer when a PROXY header named the client (the balancer), else null. */
  get via(): { address: string; port: number } | null {
    return this.proxied?.via ?? null;
  }

  get proxy(): ProxyHeader | null {
    return this.proxied?.proxy ?? null;
  }

  /** Why it closed (or is closing); null while open. */
  get reason(): CloseReason | null {
    return this.ending?.reason ?? null;
  }

  set reason(reason: CloseReason | null) {
    this.endingRecord().reason = reason;
  }

  /** The socket error's code (ECONNRESET…), if one was reported. */
  get errorCode(): string | null {
    return this.ending?.errorCode ?? null;
  }

  /** The unterminated last line dropped at a close echod started (see `close()`), in bytes. */
  get discardedTailBytes(): number {
    return this.ending?.discardedTailBytes ?? 0;
  }

  private endingRecord(): Ending {
    this.ending ??= { reason: null, errorCode: null, discardedTailBytes: 0, discardedBytes: 0, closingSince: -1 };
    return this.ending;
  }

  /** True when the connection had to be destroyed because it did not finish in time. */
  get forced(): boolean {
    return (this.flags & ConnectionFlag.forced) !== 0;
  }

  /** `--accept-then-hang`: never read, never echo. */
  private get hanging(): boolean {
    return (this.flags & ConnectionFlag.hanging) !== 0;
  }

  /**
   * Our end: address and port (empty for unix sockets), asked of the socket when needed
   * rather than kept: node:net caches what it is asked, and most connections are never asked
   * (about 130 bytes per held connection).
   */
  abstract get local(): { address: string; port: number };
  abstract get bytesReceived(): number;
  abstract get bytesSent(): number;
  /** Writes `data`; false when the transport could not take it all now (backpressure). */
  protected abstract write(data: Buffer): boolean;
  protected abstract pauseReading(): void;
  protected abstract resumeReading(): void;
  /** Sends FIN once everything written has gone out, and keeps reading so the peer's FIN is seen. */
  protected abstract finish(): void;
  /** Tears the connection down at once; the transport reports 'closed' afterwards. */
  protected abstract destroyTransport(): void;
  /** True once the transport is torn down (its close report may still be on its way). */
  protected abstract get transportDestroyed(): boolean;
  /** Passes to `echo()` whatever the transport has read but not yet delivered. */
  protected abstract echoBuffered(): void;
  /** Tears the connection down with a TCP reset (RST) instead of a FIN. */
  protected abstract resetTransport(): void;

  /**
   * Milliseconds since the last bytes either way, never more than the connection's age.
   * `lastActive` is a coarse-clock stamp (up to one sweep period behind `clockMs()`), so a
   * connection accepted late in a period is stamped before its exact `openedAt`; measured on
   * the coarse clock alone, its idle time would exceed its age once the next sweep moved the
   * clock. Activity is therefore counted from no earlier than the open, and capped at the age.
   */
  idleMs(now: number): number {
    const age = now - this.openedAt;
    const idle = this.context.clock.now - Math.max(this.lastActive, this.openedAt);
    return Math.max(0, Math.min(age, idle));
  }

  /** HTTP and WebSocket activity; null for the byte echo. */
  get httpActivity(): HttpActivity | null {
    return null;
  }

  /** Bytes of an unfinished line held for this connection. */
  get pendingBytes(): number {
    return this.framer?.pendingBytes ?? 0;
  }

  /**
   * Every chunk the transport reads, on every transport: echoed until our FIN (also while a
   * close waits for delayed echo to go out), then discarded within its budget (`discarded()`).
   */
  receive(chunk: Buffer): void {
    if ((this.flags & ConnectionFlag.finished) !== 0) this.discarded(chunk.length);
    else if (this.context.logMessages) this.echoLogged(chunk);
    else this.echo(chunk);
  }

  /** The byte path: the framer's verdict on one chunk, echoed in one write. */
  echo(chunk: Buffer): Buffer {
    const own = this.framer;
    const { clock, lineFramers } = this.context;
    const framer = own ?? lineFramers.idle;
    this.lastActive = clock.now;
    const out = framer.push(chunk);
    // Read before the write below, which is where another connection's push could run.
    const lines = framer.lines;
    const overflowed = framer.overflowed;
    // The shared framer now holds this connection's partial line: it becomes this connection's
    // own before anything else (the write below) can run another connection's push.
    if (own === null && lineFramers.mustTake()) this.framer = lineFramers.take();
    if (this.extras === null) {
      this.lines += lines;
      if (out.length !== 0 && !this.write(out)) this.onBlocked();
    } else {
      this.echoWithExtras(chunk, out, lines);
    }
    if (overflowed) this.close('line_too_long');
    return out;
  }

  /** The configured extras' path: digests, prefix, faults. */
  private echoWithExtras(chunk: Buffer, out: Buffer, lines: number): void {
    const extras = this.extras as ConnectionExtras;
    extras.digestIn?.update(chunk);
    extras.shaper?.received(chunk.length);
    if (out.length === 0) return;
    // Line mode prefixes each line; raw mode (no lines) each chunk.
    const shaped = extras.prefix === null ? out : lines > 0 ? prefixLines(out, extras.prefix) : Buffer.concat([extras.prefix, out]);
    if (extras.shaper !== null) extras.shaper.send(shaped, lines);
    else this.writeNow(shaped, lines);
  }

  /** Writes echo out now, through the output digest if any; `lines` complete lines end in it. ShapedSink. */
  writeNow(data: Buffer, lines = 0): boolean {
    this.lines += lines;
    this.extras?.digestOut?.update(data);
    const taken = this.write(data);
    if (!taken) this.onBlocked();
    return taken;
  }

  /** ShapedSink: the shaper holds enough output; stop reading the client for now. */
  pauseInput(): void {
    this.pauseReading();
  }

  /** ShapedSink: room again, unless the socket itself is blocked or the connection hangs. */
  resumeInput(): void {
    if (this.state === 'open' && this.blockedSince === -1 && !this.hanging) this.resumeReading();
  }

  /** ShapedSink: a close-after fault fired. */
  faultClose(how: 'fin' | 'rst'): void {
    if (how === 'fin') {
      this.close('fault_close_after');
      return;
    }
    if (this.state === 'closed') return;
    this.reason ??= 'fault_close_after';
    this.resetTransport();
  }

  /** Sends bytes that are not echo (the banner), counted and digested like echo. */
  sendBanner(data: Buffer): void {
    this.writeNow(data);
  }

  /** ShapedSink: false while the transport holds unsent output (the shaper waits for drain). */
  writable(): boolean {
    return this.blockedSince === -1 && this.state !== 'closed';
  }

  /** `--accept-then-hang`: the client is accepted and then never read nor answered. */
  hang(): void {
    this.flags |= ConnectionFlag.hanging;
    this.pauseReading();
  }

  /** `echo` with the seed's per-message log: sizes at debug, content at trace. */
  echoLogged(chunk: Buffer): void {
    const { logger, logContent } = this.context;
    const out = this.echo(chunk);
    logger.debug({ connId: this.id, bytes: chunk.length, echoed: out.length, lines: lineCount(out) }, 'message received');
    if (logContent && out.length > 0) logContentOf(this, out);
  }

  /**
   * Ends the connection gracefully: every complete line received is echoed, our side is
   * closed, and the transport is destroyed if the peer has not finished within
   * `drainTimeoutMs`. Harmless on a connection that is already closing.
   *
   * The unterminated last line is echoed only when the client half-closed (`client_closed`):
   * its FIN says the line is complete. At a close echod starts (shutdown, idle, a limit, a
   * fault) it is a fragment the client never finished; echoing it would look like a line cut
   * by the network, so it is dropped and its size kept for the close log line.
   */
  close(reason: CloseReason): void {
    if (this.state !== 'open') return;
    // Bytes the transport already read (while reading was paused) were received: echo them.
    this.echoBuffered();
    if (this.state !== 'open') return; // that echo closed it (a line too long)
    const ending = this.endingRecord();
    ending.reason = reason;
    this.state = 'closing';
    if (this.transportDestroyed) return; // its close report is on its way
    ending.closingSince = this.context.clock.now;
    // The shared framer (no framer of its own) holds nothing of this connection's.
    const pending = this.framer?.flush() ?? EMPTY;
    const tail = reason === 'client_closed' ? pending : EMPTY;
    ending.discardedTailBytes = pending.length - tail.length;
    const extras = this.extras;
    if (extras === null) {
      if (tail.length > 0) this.write(tail);
      this.endOutput();
      return;
    }
    // A close-after fault ends the stream where the limit fell: no unfinished line after it.
    if (reason === 'fault_close_after') {
      extras.shaper?.dispose();
      this.endOutput();
      return;
    }
    const shaped = tail.length === 0 || extras.prefix === null ? tail : prefixLines(tail, extras.prefix);
    const shaper = extras.shaper;
    if (shaper === null) {
      if (shaped.length > 0) this.writeNow(shaped);
      this.endOutput();
      return;
    }
    // Delayed or throttled echo still waiting goes out first, in order (the drain deadline bounds it).
    if (shaped.length > 0) shaper.send(shaped, 0);
    shaper.whenEmpty(() => {
      if (this.state === 'closing') this.endOutput();
    });
  }

  /**
   * Our FIN: from here on input is discarded, on every transport. Lines that came while a close
   * waited for delayed echo were echoed; an unfinished one left now is dropped and counted.
   */
  private endOutput(): void {
    this.flags |= ConnectionFlag.finished;
    const rest = this.framer?.flush();
    if (rest !== undefined && rest.length > 0) this.endingRecord().discardedTailBytes += rest.length;
    this.finish();
  }

  /** Destroys the connection at once, keeping the first reason given. */
  destroy(reason: CloseReason, forced: boolean): void {
    if (this.state === 'closed') return;
    this.reason ??= reason;
    if (forced) this.flags |= ConnectionFlag.forced;
    else this.flags &= ~ConnectionFlag.forced;
    this.destroyTransport();
  }

  /** The client is not taking our output: stop reading from it until it does. */
  onBlocked(): void {
    this.pauseReading();
    if (this.blockedSince === -1) this.blockedSince = this.context.clock.now;
  }

  /** The transport took all pending output. */
  onDrained(): void {
    this.blockedSince = -1;
    this.lastActive = this.context.clock.now;
    this.extras?.shaper?.drained();
    if (this.state === 'open' && !this.hanging) this.resumeReading();
  }

  /** The client half-closed: echo what is pending, then close our side. */
  onEnded(): void {
    this.close('client_closed');
  }

  onErrored(code: string): void {
    const ending = this.endingRecord();
    ending.errorCode = code;
    const reset = RESET_CODES.has(code);
    // Node reports a reset that arrives with data as an end of stream first: a reset then
    // corrects the client_closed that end set.
    if (ending.reason === null || (reset && ending.reason === 'client_closed')) ending.reason = reset ? 'reset' : 'error';
  }

  /**
   * Input read after our side closed is thrown away, but only up to a budget: past it, reading
   * stops, so a client that keeps sending after the FIN (a 256 MiB "line") is not read at full
   * speed; it has had its EOF, and the drain timeout ends the connection.
   */
  discarded(bytes: number): void {
    const ending = this.endingRecord();
    ending.discardedBytes += bytes;
    if (ending.discardedBytes > CLOSE_DISCARD_LIMIT_BYTES) this.pauseReading();
  }

  /** The transport is gone: report once. */
  onClosed(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.reason ??= 'client_closed';
    this.extras?.shaper?.dispose();
    this.context.onClose(this);
  }

  /** The deadline sweep: `slack` keeps a deadline from firing early on a coarse stamp. */
  expire(now: number, slack: number): void {
    const { idleTimeoutMs, writeStallTimeoutMs, drainTimeoutMs } = this.context;
    if (this.state === 'closing') {
      const ending = this.endingRecord();
      if (now - ending.closingSince >= drainTimeoutMs + slack) this.destroy(ending.reason ?? 'error', true);
    } else if (this.state === 'open') {
      if (this.blockedSince !== -1) {
        if (writeStallTimeoutMs > 0 && now - this.blockedSince >= writeStallTimeoutMs + slack) this.destroy('write_stalled', false);
      } else if (idleTimeoutMs > 0 && now - this.lastActive >= idleTimeoutMs + slack) {
        this.close('idle_timeout');
      }
    }
  }

  /**
   * The safety net: a bug in handling this connection ends this connection (reason `error`),
   * is logged and counted, and goes no further. Tests show it is never reached.
   */
  fail(err: unknown): void {
    this.context.onInternalError(this, err);
    this.destroy('error', false);
  }
}

function lineCount(out: Buffer): number {
  let count = 0;
  for (let nl = out.indexOf(0x0a); nl !== -1; nl = out.indexOf(0x0a, nl + 1)) count++;
  return count;
}

/** One trace line per echoed line (or per raw chunk), the bytes escaped. */
function logContentOf(connection: Connection, out: Buffer): void {
  const { logger } = connection.context;
  let start = 0;
  for (let nl = out.indexOf(0x0a); nl !== -1; nl = out.indexOf(0x0a, start)) {
    logger.trace({ connId: connection.id, data: escapeBytes(out.subarray(start, nl + 1), TRACE_DATA_MAX_BYTES) }, 'line');
    start = nl + 1;
  }
  if (start < out.length) logger.trace({ connId: connection.id, data: escapeBytes(out.subarray(start), TRACE_DATA_MAX_BYTES) }, 'data');
}
