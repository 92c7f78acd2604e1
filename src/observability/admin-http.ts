/**
 * The admin endpoint's HTTP/1.1, on plain node:net sockets so that every bound below holds the
 * same way on Node and on Bun (whose node:http has none of node's timeouts) and to the
 * millisecond (node:http checks its header timeout only every connectionsCheckingInterval).
 *
 * Invariants, per connection:
 * - One request at a time. While a request is handled and until its response has been handed
 *   to the kernel, the socket is paused: a client that pipelines without reading costs one read
 *   chunk and one response, never a queue of them.
 * - Every state has a deadline: a fresh or resumed head has `headersTimeoutMs` from its first
 *   byte (from accept for a fresh connection), never extended by more bytes; a keep-alive wait
 *   `keepAliveTimeoutMs`; a request `requestTimeoutMs` until its response is flushed.
 * - A head is at most `maxHeaderBytes`; requests carry no body (GET and HEAD only): one that
 *   announces a body (any Transfer-Encoding, or Content-Length fields other than a single `0`)
 *   is answered and the connection closed, so bytes are never misread as a head.
 * - A head that can never become a request (bytes that are not HTTP/1.x, a bare LF) is answered
 *   400 as soon as that shows, not at its deadline. test/integration/admin-fuzz.test.ts states
 *   these rules as a model and checks them against hostile input.
 * - At `maxConnections` a newcomer evicts the connection that has waited longest without a
 *   request in its handler, so probes are never locked out by idle or half-open sockets.
 */
import { type Server, type Socket, createServer } from 'node:net';
import type { AdminCloseReason, AdminLimits } from './admin-limits.js';

export interface AdminRequest {
  method: 'GET' | 'HEAD';
  /** The path without its query string. */
  path: string;
  query: URLSearchParams;
  /** Header names in lower case; a repeated header's values are joined with ', ' (RFC 9110 §5.3). */
  headers: ReadonlyMap<string, string>;
}

export interface AdminResponse {
  status: number;
  headers?: Readonly<Record<string, string>>;
  body: string;
}

export type AdminHandler = (request: AdminRequest) => Promise<AdminResponse>;

export interface AdminHttpEvents {
  /** A connection closed or was refused, and why (abnormal reasons are worth a log line). */
  closed(reason: AdminCloseReason, remote: string): void;
  /** A response was sent (status code). */
  answered(status: number): void;
  /** A handler threw: answered 500. */
  failed(err: unknown): void;
}

type State =
  /** Waiting for (the rest of) a head; `headStarted` says whether any byte of it came. */
  | 'reading'
  /** A handler is working on a request: not evictable. */
  | 'handling'
  /** The response is written and not yet flushed to the kernel. */
  | 'writing'
  /** Ending: a last response (or none) is on its way, then the socket goes. */
  | 'closing';

/** How long an ending connection gets to flush its last words before it is destroyed. */
const LINGER_MS = 1000;
/** Bytes a paused socket may still deliver (one read chunk on Node) before it counts as abuse. */
const MAX_BUFFERED_BEYOND_HEAD = 64 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');
const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
/** The longest method REQUEST_LINE accepts. */
const MAX_METHOD = 16;
const isUpper = (byte: number): boolean => byte >= 0x41 && byte <= 0x5a;
const NOT_A_REQUEST_LINE =
  'not an HTTP/1.x request line: send GET or HEAD in plain-text HTTP/1.1 (this port speaks neither TLS nor HTTP/2)';
const BARE_LF = 'a line ends with a bare LF: end every line of the request with CRLF (\\r\\n)';
const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: 'OK',
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

class AdminConnection {
  readonly socket: Socket;
  readonly remote: string;
  state: State = 'reading';
  /** performance.now() when the connection entered its current wait: eviction takes the oldest. */
  since = performance.now();
  private buffered: Buffer = Buffer.alloc(0);
  /** Bytes of the head so far already searched for a bare LF (see hopeless()). */
  private lfChecked = 0;
  private headStarted = false;
  private peerEnded = false;
  private timer: NodeJS.Timeout | null = null;
  private closeReason: AdminCloseReason | null = null;
  private readonly http: AdminHttpServer;

  constructor(socket: Socket, http: AdminHttpServer) {
    this.socket = socket;
    this.http = http;
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    // A reset or broken pipe is the peer leaving; anything else is worth the 'error' reason.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.closeReason ??= err.code === 'ECONNRESET' || err.code === 'EPIPE' ? 'client_closed' : 'error';
    });
    // A fresh connection is a head that began at accept: idle sockets get headersTimeoutMs.
    this.headStarted = true;
    this.arm(http.limits.headersTimeoutMs, 'headers_timeout');
  }

  get reason(): AdminCloseReason {
    return this.closeReason ?? (this.peerEnded ? 'client_closed' : 'error');
  }

  onData(chunk: Buffer): void {
    if (this.state === 'closing') return;
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    if (this.state !== 'reading') {
      // Paused sockets may still hand over what they had read; more than that is not a client.
      if (this.buffered.length > this.http.limits.maxHeaderBytes + MAX_BUFFERED_BEYOND_HEAD) this.destroy('bad_request');
      return;
    }
    this.next();
  }

  onEnd(): void {
    this.peerEnded = true;
    // A request already complete is still answered; a partial head never will be.
    if (this.state === 'reading' && this.findHead() < 0) this.end(this.buffered.length > 0 ? 'bad_request' : 'client_closed');
  }

  /** Parses and starts the next request if a whole head is buffered; else waits for more. */
  private next(): void {
    const limits = this.http.limits;
    if (!this.headStarted && this.buffered.length > 0) {
      this.headStarted = true;
      this.since = performance.now();
      this.arm(limits.headersTimeoutMs, 'headers_timeout');
    }
    const end = this.findHead();
    const refused = this.hopeless(end);
    if (refused !== null) {
      this.reply({ status: 400, body: `${refused}\n` }, 'GET', 'bad_request');
      return;
    }
    if (end < 0) {
      if (this.buffered.length > limits.maxHeaderBytes)
        this.reply({ status: 431, body: `request head larger than ${limits.maxHeaderBytes} bytes\n` }, 'GET', 'header_too_large');
      else if (this.peerEnded) this.end(this.buffered.length > 0 ? 'bad_request' : 'client_closed');
      return;
    }
    if (end > limits.maxHeaderBytes) {
      this.reply({ status: 431, body: `request head larger than ${limits.maxHeaderBytes} bytes\n` }, 'GET', 'header_too_large');
      return;
    }
    const head = this.buffered.subarray(0, end).toString('latin1');
    this.buffered = this.buffered.subarray(end + HEAD_END.length);
    this.lfChecked = 0;
    this.headStarted = false;
    const parsed = parseHead(head);
    if (typeof parsed === 'string') {
      this.reply({ status: 400, body: `${parsed}\n` }, 'GET', 'bad_request');
      return;
    }
    const { method, target, version, headers } = parsed;
    // No bodies are read: one announced is answered and the connection closed, so its bytes are
    // never taken for the next head. Only a single `Content-Length: 0` announces none: repeated
    // fields arrive joined ('0, 0', or '5, 0' that a proxy may read as 5), and are a body too.
    const hasBody = headers.has('transfer-encoding') || (headers.get('content-length') ?? '0') !== '0';
    // Every answer, a 405 too, keeps the connection only if the client asked to: `close` ends it
    // whatever else the field says, and HTTP/1.0 persists only with `keep-alive`.
    const tokens = (headers.get('connection') ?? '')
      .toLowerCase()
      .split(',')
      .map((token) => token.trim());
    const keepAlive = !tokens.includes('close') && (version === '1.1' || tokens.includes('keep-alive'));
    if (method !== 'GET' && method !== 'HEAD') {
      this.reply(
        { status: 405, headers: { allow: 'GET, HEAD' }, body: 'method not allowed\n' },
        'GET',
        hasBody || !keepAlive ? 'done' : null,
      );
      return;
    }
    if (hasBody) {
      this.reply({ status: 400, body: 'GET and HEAD requests take no body\n' }, method, 'bad_request');
      return;
    }
    const question = target.indexOf('?');
    const request: AdminRequest = {
      method,
      path: question < 0 ? target : target.slice(0, question),
      query: new URLSearchParams(question < 0 ? '' : target.slice(question + 1)),
      headers,
    };
    this.state = 'handling';
    this.socket.pause();
    this.arm(limits.requestTimeoutMs, 'request_timeout');
    this.http.handler(request).then(
      (response) => this.reply(response, method, keepAlive ? null : 'done'),
      (err: unknown) => {
        this.http.events.failed(err);
        this.reply({ status: 500, body: 'internal error\n' }, method, keepAlive ? null : 'done');
      },
    );
  }

  /**
   * Writes a response; with `closeAs` the connection ends after it with that reason, otherwise
   * reading resumes once the response is flushed.
   */
  private reply(response: AdminResponse, method: string, closeAs: AdminCloseReason | null): void {
    if (this.state === 'closing') return;
    const body = Buffer.from(response.body, 'utf8');
    const close = closeAs !== null || this.peerEnded;
    const lines = [`HTTP/1.1 ${response.status} ${STATUS_TEXT[response.status] ?? 'Unknown'}`];
    // Every answer is exactly its declared type: /connections carries client-chosen text (TLS SNI,
    // a client certificate's subject) as JSON, which no browser may sniff into markup.
    const headers: Record<string, string> = {
      'content-type': 'text/plain; charset=utf-8',
      'x-content-type-options': 'nosniff',
      ...response.headers,
    };
    headers['content-length'] = String(body.length);
    headers.connection = close ? 'close' : 'keep-alive';
    if (!close) headers['keep-alive'] = `timeout=${Math.floor(this.http.limits.keepAliveTimeoutMs / 1000)}`;
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    const bytes = Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), method === 'HEAD' ? Buffer.alloc(0) : body]);
    this.http.events.answered(response.status);
    if (close) {
      this.end(closeAs ?? 'client_closed', bytes);
      return;
    }
    this.state = 'writing';
    this.since = performance.now();
    this.socket.write(bytes, (err) => {
      if (err !== undefined && err !== null) return;
      if (this.state !== 'writing') return;
      this.state = 'reading';
      this.since = performance.now();
      if (this.buffered.length > 0) {
        this.headStarted = true;
        this.arm(this.http.limits.headersTimeoutMs, 'headers_timeout');
      } else {
        this.arm(this.http.limits.keepAliveTimeoutMs, 'keep_alive_timeout');
      }
      this.socket.resume();
      this.next();
    });
  }

  /** Ends the connection (after `last`, if given) with a reason; destroys it if it lingers. */
  end(reason: AdminCloseReason, last?: Buffer): void {
    if (this.state === 'closing') return;
    this.state = 'closing';
    this.since = 0;
    this.closeReason = reason;
    this.buffered = Buffer.alloc(0);
    this.arm(LINGER_MS, reason);
    if (last !== undefined) this.socket.end(last);
    else this.socket.end();
  }

  destroy(reason: AdminCloseReason): void {
    this.closeReason ??= reason;
    this.state = 'closing';
    this.clearTimer();
    this.socket.destroy();
  }

  clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** One deadline at a time: entering a state replaces the previous one. */
  private arm(ms: number, reason: AdminCloseReason): void {
    this.clearTimer();
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.state === 'closing') this.destroy(reason);
      else if (reason === 'headers_timeout' && this.buffered.length > 0)
        this.reply({ status: 408, body: 'request head not complete in time\n' }, 'GET', reason);
      else this.end(reason);
    }, ms);
    this.timer.unref?.();
  }

  private findHead(): number {
    // Blank lines before a request line are allowed (RFC 9112 §2.2).
    let start = 0;
    while (start + 1 < this.buffered.length && this.buffered[start] === 0x0d && this.buffered[start + 1] === 0x0a) start += 2;
    if (start > 0) {
      this.buffered = this.buffered.subarray(start);
      this.lfChecked = 0;
    }
    return this.buffered.indexOf(HEAD_END);
  }

  /**
   * Why the head (its first maxHeaderBytes, complete or not; `end` as findHead() returned it)
   * can never become a request, or null while it still may: a request line begins with an
   * upper-case method and a space, and every line ends with CRLF. Said as soon as the bytes show
   * it, so that a TLS ClientHello or a request typed with bare LFs is told at once what is
   * wrong, not with a 408 at headersTimeoutMs. The method costs at most MAX_METHOD + 1 bytes a
   * look; LFs are searched for once each.
   */
  private hopeless(end: number): string | null {
    const head = this.buffered.subarray(0, Math.min(end < 0 ? this.buffered.length : end, this.http.limits.maxHeaderBytes));
    let letters = 0;
    while (letters < head.length && letters <= MAX_METHOD && isUpper(head[letters] as number)) letters++;
    // A lone CR may still become a blank line before the request line (findHead skips those).
    const pendingBlank = letters === 0 && head.length === 1 && head[0] === CR;
    if (letters > MAX_METHOD || (letters < head.length && !pendingBlank && (letters === 0 || head[letters] !== SP)))
      return NOT_A_REQUEST_LINE;
    for (let at = head.indexOf(LF, this.lfChecked); at >= 0; at = head.indexOf(LF, at + 1)) {
      if (at === 0 || head[at - 1] !== CR) return BARE_LF;
    }
    this.lfChecked = head.length;
    return null;
  }
}

interface ParsedHead {
  method: string;
  target: string;
  version: '1.0' | '1.1';
  headers: Map<string, string>;
}

/** Origin form (`/path?query`), `*`, or absolute form (`http://host/path`, which a server must accept: RFC 9112 §3.2.2). */
const REQUEST_LINE = new RegExp(`^([A-Z]{1,${MAX_METHOD}}) (\\/[\\x21-\\x7e]*|\\*|https?:\\/\\/[\\x21-\\x7e]+) HTTP\\/1\\.([01])$`);
/** The absolute form's scheme and authority, up to its path or query. */
const ABSOLUTE_PREFIX = /^https?:\/\/[^/?]*/;
/** A field line: a token, ':', and a value of HTAB, SP, visible ASCII and obs-text (RFC 9110 §5.5): no NUL or other control byte. */
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([\t\x20-\x7e\x80-\xff]*?)[ \t]*$/;

/** The request line and headers, or why they are not HTTP/1.x. */
export function parseHead(head: string): ParsedHead | string {
  const lines = head.split('\r\n');
  const match = REQUEST_LINE.exec(lines[0] ?? '');
  if (match === null) return NOT_A_REQUEST_LINE;
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const header = HEADER_LINE.exec(line);
    if (header === null) return 'malformed header line: send `name: value`, the value without control bytes';
    const name = (header[1] as string).toLowerCase();
    const earlier = headers.get(name);
    headers.set(name, earlier === undefined ? (header[2] as string) : `${earlier}, ${header[2] as string}`);
  }
  // The absolute form names this server by its authority: what is routed is its path and query.
  const written = match[2] as string;
  const rest = written.replace(ABSOLUTE_PREFIX, '');
  const target = rest === written ? written : rest.startsWith('/') ? rest : `/${rest}`;
  return { method: match[1] as string, target, version: match[3] === '1' ? '1.1' : '1.0', headers };
}

/** The admin endpoint's HTTP server: connections, their deadlines, and the cap. */
export class AdminHttpServer {
  readonly server: Server;
  readonly limits: AdminLimits;
  readonly handler: AdminHandler;
  readonly events: AdminHttpEvents;
  private readonly connections = new Set<AdminConnection>();

  constructor(limits: AdminLimits, handler: AdminHandler, events: AdminHttpEvents) {
    this.limits = limits;
    this.handler = handler;
    this.events = events;
    this.server = createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
  }

  get active(): number {
    return this.connections.size;
  }

  /** Ends every connection (idle ones at once, others after their current response is cut). */
  closeAll(): void {
    for (const connection of this.connections) connection.destroy('shutdown');
  }

  private accept(socket: Socket): void {
    socket.on('error', () => {});
    if (this.connections.size >= this.limits.maxConnections && !this.evictOne()) {
      this.events.closed('refused', `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`);
      socket.destroy();
      return;
    }
    const connection = new AdminConnection(socket, this);
    this.connections.add(connection);
    socket.on('data', (chunk: Buffer) => connection.onData(chunk));
    socket.on('end', () => connection.onEnd());
    socket.on('close', () => {
      connection.clearTimer();
      this.connections.delete(connection);
      this.events.closed(connection.reason, connection.remote);
    });
  }

  /** Destroys the connection waiting longest without a request in its handler; false if none. */
  private evictOne(): boolean {
    let victim: AdminConnection | null = null;
    for (const connection of this.connections) {
      if (connection.state === 'handling') continue;
      if (victim === null || connection.since < victim.since) victim = connection;
    }
    if (victim === null) return false;
    victim.destroy('evicted');
    // Its 'close' comes later; it no longer counts against the cap.
    this.connections.delete(victim);
    return true;
  }
}
