/**
 * The node:net and node:tls transport: listeners (TCP, TLS, Unix sockets, inherited fds) and
 * their connections.
 *
 * Handlers are defined once at module level and find their connection through the socket
 * (no closures per connection: memory per held connection is a target). Every socket has an
 * 'error' listener from its first moment, and nothing one connection does can throw into
 * another or into the process.
 */
import { once } from 'node:events';
import { type Socket, createServer } from 'node:net';
import { type SecureContextOptions, type Server as TlsServer, type TLSSocket, createServer as createTlsServer } from 'node:tls';
import type { TlsInfo } from '../connection/connection.js';
import type { TlsSettings } from '../config/options.js';
import type { Logger } from '../core/log.js';
import { parseProxyHeader } from '../core/proxy-protocol.js';
import type { Acceptor, Admission, Hold, Listener, ListenSpec, Peer } from '../connection/transport.js';
import { bindSocketFile, removeSocketFile, type SocketFile } from './socket-file.js';
import { SocketConnection } from './socket-connection.js';
import { acceptDirect, isDirect } from './node-direct-read.js';
import { nodeListenReusePort } from './reuse-port.js';
import { formatListener } from '../config/listen-url.js';

const kConnection = Symbol('echod.connection');
type ConnectionSocket = Socket & { [kConnection]?: NodeConnection };
/** On a direct socket whose PROXY header is being read: where its bytes go until then. */
const kPreamble = Symbol('echod.preamble');
type PreambleSocket = Socket & { [kPreamble]?: ((chunk: Buffer) => void) | undefined };
/**
 * On an accepted socket that cannot be served yet (reading its PROXY header, in its TLS
 * handshake): the slot it claimed at accept and the client it is (the one its PROXY header
 * named, once read). Taken off when it is served; its close meanwhile frees the slot.
 */
const kHeld = Symbol('echod.held');
export interface Held {
  hold: Hold;
  peer: Peer;
  acceptor: Acceptor;
  /** The tls listener's sockets in their handshake, which a stopping listener closes. */
  handshaking: Set<Socket> | null;
  /** Closed by its listener stopping: not the client's failure, so not refused as one. */
  abandoned: boolean;
  /** performance.now() when its TLS handshake began (handed to node:tls), or -1. */
  handshakeStart: number;
}
type HeldSocket = Socket & { [kHeld]?: Held | undefined };

/** How long a held socket's TLS handshake took, to the microsecond (ms); undefined if it was not timed. */
export function handshakeMsOf(held: Held | undefined): number | undefined {
  return held === undefined || held.handshakeStart < 0 ? undefined : Math.round((performance.now() - held.handshakeStart) * 1000) / 1000;
}

/**
 * Keeps one copy of the address string of a listener's clients while they come from the same
 * address (behind a balancer, a NAT, or a load test): each accept reads the peer as a new string,
 * which every held connection would otherwise keep (32 bytes each). One entry, so the check is one
 * short string comparison per accept. (Bun keeps the string on its socket anyway: not used there.)
 */
class AddressCache {
  private last = '';

  /** `address`, or the equal string kept from an earlier client. */
  intern(address: string): string {
    if (address === this.last) return this.last;
    this.last = address;
    return address;
  }
}

/** A TLS handshake that takes longer than this is abandoned (`tls_error`). */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

export class NodeConnection extends SocketConnection {
  constructor(admission: Admission, socket: Socket, peer: Peer) {
    super(admission, socket, peer);
    (socket as ConnectionSocket)[kConnection] = this;
    // A socket read directly hands its bytes to onDirectBytes, never to 'data' listeners.
    if (!isDirect(socket)) socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('drain', onDrain);
    socket.on('close', onClose);
  }

  protected write(data: Buffer): boolean {
    return this.socket.write(data);
  }

  protected pauseReading(): void {
    this.socket.pause();
  }

  protected resumeReading(): void {
    this.socket.resume();
  }

  protected finish(): void {
    const socket = this.socket;
    // Keep reading (and discarding) so the peer's FIN is seen and the kernel never has
    // unread data to answer with a reset that could cost the peer its last echoes.
    socket.end();
    socket.resume();
  }

  protected echoBuffered(): void {
    const socket = this.socket;
    // read() hands the buffered bytes to the 'data' listener, i.e. to echo().
    while (!socket.destroyed && socket.readableLength > 0 && socket.read() !== null);
  }
}

function connectionOf(socket: Socket): NodeConnection {
  return (socket as ConnectionSocket)[kConnection] as NodeConnection;
}

/** Bytes the client sent, however they were read (see `Connection.receive()`). */
function receive(connection: NodeConnection, chunk: Buffer): void {
  try {
    connection.receive(chunk);
  } catch (err) {
    connection.fail(err);
  }
}

function onData(this: Socket, chunk: Buffer): void {
  receive(connectionOf(this), chunk);
}

/**
 * A directly read socket's bytes (see node-direct-read.ts): the usual echo, or the PROXY header
 * reader while the socket has no connection yet.
 */
function onDirectBytes(socket: Socket, chunk: Buffer): void {
  const connection = (socket as ConnectionSocket)[kConnection];
  if (connection !== undefined) receive(connection, chunk);
  else (socket as PreambleSocket)[kPreamble]?.(chunk);
}

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

/** Every accepted socket's first listener: an error is recorded on its connection, if any, and goes no further. */
function onSocketError(this: Socket, err: NodeJS.ErrnoException): void {
  (this as ConnectionSocket)[kConnection]?.onErrored(err.code ?? 'UNKNOWN');
}

function socketPeer(socket: Socket): Peer {
  return { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
}

/**
 * A held socket closed before it was served: its slot is free (one handler for all: no closure
 * per socket). The record stays on the socket for a tlsClientError that may follow.
 */
function onHeldClose(this: Socket): void {
  const held = (this as HeldSocket)[kHeld];
  if (held === undefined) return;
  held.handshaking?.delete(this);
  held.acceptor.release(held.hold);
}

/** Claims a slot for `socket` from its accept until it is served or closes. False: refused; the socket is destroyed. */
function holdSocket(socket: Socket, acceptor: Acceptor): boolean {
  const peer = socketPeer(socket);
  const hold = acceptor.hold(peer);
  if (hold === null) {
    socket.destroy();
    return false;
  }
  (socket as HeldSocket)[kHeld] = { hold, peer, acceptor, handshaking: null, abandoned: false, handshakeStart: -1 };
  socket.once('close', onHeldClose);
  return true;
}

/** The held state of `socket`, taken off it (the caller now admits or releases the slot). */
export function takeHeld(socket: Socket): Held | undefined {
  const held = (socket as HeldSocket)[kHeld];
  if (held === undefined) return undefined;
  (socket as HeldSocket)[kHeld] = undefined;
  socket.removeListener('close', onHeldClose);
  held.handshaking?.delete(socket);
  return held;
}

/** Serves `socket` as `peer` if the acceptor admits it (with the slot it held since accept, if any), else closes it. */
function serve(socket: Socket, peer: Peer, acceptor: Acceptor, spec: ListenSpec, hold?: Hold, handshakeMs?: number): void {
  const admitted = acceptor.admit(peer, hold);
  if (admitted === null) {
    socket.destroy();
    return;
  }
  const connection = new NodeConnection(admitted, socket, peer);
  if ('encrypted' in socket) connection.tls = tlsInfoOf(socket as TLSSocket, handshakeMs);
  // After a PROXY header the socket was paused explicitly; a 'data' listener alone does not
  // restart a stream paused that way. A hanging listener's sockets stay as accepted: unread.
  if (socket.isPaused() && spec.listener.faults?.acceptThenHang !== true) socket.resume();
  acceptor.register(connection);
}

/** What is done with a held socket once its PROXY header is read: `peer` is the client it named. */
export type AfterHeader = (socket: Socket, peer: Peer) => void;

/**
 * The accept path of the tcp and tls listeners for sockets another server goes on to serve
 * (transports/http.ts): the socket claims its slot at accept, its PROXY header is read if the
 * listener takes one, then `next(socket, peer)`. The slot comes off with takeHeld() or, after a
 * handshake begun by handshakeNext(), endHandshake().
 */
export function acceptHeld(socket: Socket, acceptor: Acceptor, spec: ListenSpec, next: AfterHeader): void {
  if (!holdSocket(socket, acceptor)) return;
  if (spec.listener.proxyProtocol !== 'off') readProxyHeader(socket, acceptor, spec, next);
  else next(socket, socketPeer(socket));
}

/**
 * Reads a PROXY protocol header off a fresh socket, then hands the socket on (`next`) with the
 * header's source as the client's address; everything after the header is the echo's or the
 * TLS handshake's first input. Bounded: a slot is held meanwhile (maxConnections), the parser
 * refuses oversized headers, and a header that does not complete in time is refused.
 */
function readProxyHeader(socket: Socket, acceptor: Acceptor, spec: ListenSpec, next: AfterHeader): void {
  const mode = spec.listener.proxyProtocol;
  const own = socketPeer(socket);
  // A direct socket (acceptDirect) hands its bytes to kPreamble, and what follows the header
  // goes straight to the connection's echo; any other socket has 'data' events and unshift().
  const direct = isDirect(socket);
  let received: Buffer = Buffer.alloc(0);
  const finish = (): void => {
    clearTimeout(timer);
    if (direct) (socket as PreambleSocket)[kPreamble] = undefined;
    else socket.removeListener('data', onPreamble);
    socket.removeListener('close', onEarlyClose);
    socket.removeListener('end', onEarlyEnd);
    socket.pause();
  };
  /** Serves the client `peer`, with `rest` (the bytes after the header) as its first input. */
  const handOn = (peer: Peer, rest: Buffer): void => {
    // The slot held since accept moves to the client the header named (its per-IP limit checked).
    const held = (socket as HeldSocket)[kHeld];
    if (held !== undefined && peer.address !== held.peer.address) {
      if (!acceptor.identify(held.hold, peer)) {
        socket.destroy();
        return;
      }
    }
    if (held !== undefined) held.peer = peer;
    if (!direct) {
      if (rest.length > 0) socket.unshift(rest);
      next(socket, peer);
      return;
    }
    next(socket, peer);
    const connection = (socket as ConnectionSocket)[kConnection];
    if (connection !== undefined && rest.length > 0) receive(connection, rest);
  };
  const refuse = (detail: string): void => {
    finish();
    acceptor.refuse('proxy_protocol_error', own, detail);
    socket.destroy();
  };
  const onEarlyClose = (): void => {
    finish();
  };
  // Its FIN: the header can never complete, so the slot is not kept until the timeout.
  const onEarlyEnd = (): void => refuse('closed before its PROXY protocol header was complete');
  const onPreamble = (chunk: Buffer): void => {
    received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
    const result = parseProxyHeader(received);
    if (result.kind === 'incomplete') return;
    if (result.kind === 'invalid') return refuse(result.reason);
    if (result.kind === 'absent') {
      if (mode === 'required') return refuse('no PROXY protocol header');
      finish();
      handOn(own, received);
      return;
    }
    finish();
    const { header } = result;
    const peer: Peer =
      header.source !== undefined && header.command === 'PROXY'
        ? {
            address: header.source.address,
            port: header.source.port,
            via: { address: own.address, port: own.port },
            proxy: header,
            headerBytes: result.length,
          }
        : { ...own, proxy: header, headerBytes: result.length };
    handOn(peer, received.subarray(result.length));
  };
  const timer = setTimeout(
    () => refuse(`no complete PROXY protocol header within ${spec.proxyProtocolTimeoutMs} ms`),
    spec.proxyProtocolTimeoutMs,
  );
  timer.unref();
  if (direct) (socket as PreambleSocket)[kPreamble] = onPreamble;
  else socket.on('data', onPreamble);
  socket.on('close', onEarlyClose);
  socket.on('end', onEarlyEnd);
  socket.resume(); // the header must be read even on a listener whose sockets start paused
}

/**
 * A TLS socket's handshake is over (done or failed): returns what its accepted socket held —
 * its slot and its client — kept on that socket underneath (node:tls's `_parent`, set by every
 * TLSSocket built over a net.Socket, in node and in Bun). Taken once: the caller admits or
 * releases the slot.
 */
export function endHandshake(socket: TLSSocket): Held | undefined {
  const raw = (socket as TLSSocket & { _parent?: Socket | null })._parent;
  return raw === undefined || raw === null ? undefined : takeHeld(raw);
}

/**
 * A certificate's subject or issuer as one line (`CN=client, O=lab, OU=a+b`): a multi-valued
 * attribute joined with `+`. tls:// close lines and the https document say it the same way.
 */
export function distinguishedName(name: object | undefined): string {
  return Object.entries(name ?? {})
    .map(([key, value]) => `${key}=${Array.isArray(value) ? value.join('+') : String(value)}`)
    .join(', ');
}

function tlsInfoOf(socket: TLSSocket, handshakeMs: number | undefined): TlsInfo {
  const cert = socket.getPeerCertificate();
  const subject = cert !== null && typeof cert === 'object' && cert.subject !== undefined ? distinguishedName(cert.subject) : null;
  const alpn = socket.alpnProtocol;
  return {
    version: socket.getProtocol(),
    cipher: socket.getCipher()?.name ?? null,
    servername: typeof socket.servername === 'string' ? socket.servername : null,
    alpn: typeof alpn === 'string' ? alpn : null,
    clientSubject: subject === '' ? null : subject,
    authorized: socket.authorized,
    ...(handshakeMs !== undefined ? { handshakeMs } : {}),
  };
}

/** A node:net (tcp, unix, inherited fd) or node:tls listener. */
export async function listenNode(
  spec: ListenSpec,
  acceptor: Acceptor,
  logger: Logger,
  tls: TlsSettings | null,
): Promise<Listener & { setSecureContext(options: SecureContextOptions): void }> {
  const { listener } = spec;
  const proxied = listener.proxyProtocol !== 'off';
  let tlsServer: TlsServer | null = null;
  if (listener.protocol === 'tls') {
    if (tls === null) throw new Error('a tls listener needs certificates');
    tlsServer = createTlsHandshaker(spec, acceptor, tls);
  }
  // --accept-then-hang: sockets start paused, so not a byte is read from the kernel (on a tls
  // listener, the handshake is done and the connection then hangs: see serve()).
  const pauseOnConnect = listener.faults?.acceptThenHang === true;
  // Every listener accepts with a plain net server; a tls one hands its sockets to the tls
  // server for their handshake (handshakeNext), after the PROXY header if there is one.
  const server = createServer({ allowHalfOpen: true, noDelay: spec.noDelay, pauseOnConnect: pauseOnConnect && tlsServer === null });
  // Sockets in their TLS handshake: not connections yet, so a stopping listener closes them.
  const handshaking = new Set<Socket>();
  const handshaker = tlsServer;
  const next =
    handshaker === null ? serveAfterHeader(acceptor, spec) : handshakeNext((socket) => handshaker.emit('connection', socket), handshaking);
  const addresses = new AddressCache();
  // `peer`: what the direct accept path read off the handle already (see node-direct-read.ts).
  const onConnection = (socket: Socket, peer?: Peer): void => {
    socket.on('error', onSocketError);
    // Served at once, or held from this moment (header, handshake): limits apply from accept.
    if (!proxied && tlsServer === null) {
      const client = peer ?? socketPeer(socket);
      client.address = addresses.intern(client.address);
      serve(socket, client, acceptor, spec);
    } else if (!holdSocket(socket, acceptor)) return;
    else if (proxied) readProxyHeader(socket, acceptor, spec, next);
    else next(socket, socketPeer(socket));
  };
  server.on('connection', onConnection);
  // Each rejects with the bind error (EADDRINUSE, EACCES…).
  const listen = (
    options: { fd: number } | { path: string } | { host: string; port: number; reusePort?: boolean; exclusive?: boolean },
  ): Promise<unknown> => {
    const listening = once(server, 'listening');
    server.listen({ ...options, backlog: spec.backlog });
    return listening;
  };
  let socketFile: SocketFile | null = null;
  // Node's error names no address for an inherited socket: it gets the fd, for bind-error.ts.
  if (listener.fd !== null)
    await listen({ fd: listener.fd }).catch((err: unknown) => Promise.reject(Object.assign(err as Error, { fd: listener.fd })));
  else if (listener.protocol === 'unix') {
    socketFile = await bindSocketFile(
      listener.path,
      async (name) => void (await listen({ path: name })),
      () => new Promise<void>((resolve) => server.close(() => resolve())),
    );
  } else if (spec.reusePort && nodeListenReusePort()) {
    // A socket of its own (SO_REUSEPORT): in a cluster worker, `exclusive` binds it here instead
    // of taking connections from the primary's round-robin (see reuse-port.ts).
    await listen({ host: listener.host, port: listener.port, reusePort: true, exclusive: true });
  } else await listen({ host: listener.host, port: listener.port });
  // Not under tls (node:tls takes the socket's handle over) nor, with a PROXY header to read
  // first, on a hanging listener (its sockets must keep what follows the header unread).
  // Off by option, or where node:net's handle is not the shape it relies on (it logs why).
  if (spec.directRead && tlsServer === null && !(proxied && pauseOnConnect)) {
    acceptDirect(server, {
      listener: formatListener(listener),
      pauseOnCreate: pauseOnConnect,
      noDelay: spec.noDelay,
      onSocket: onConnection,
      onBytes: onDirectBytes,
      logger,
    });
  }
  server.on('error', (err) => logger.error({ err }, 'listener error'));
  return {
    config: listener,
    address: () => {
      const address = server.address();
      if (socketFile !== null) return { path: socketFile.path }; // bound at a private name, see socket-file.ts
      // null: a unix socket inherited by fd (systemd), whose path node:net cannot read.
      return typeof address === 'string' || address === null ? { path: address ?? '' } : address;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // The listening socket is closed now (the callback waits for the connections too).
        if (socketFile !== null) removeSocketFile(socketFile);
        // Otherwise the close would wait for each one's handshake timeout.
        abandonHandshakes(handshaking);
      }),
    setSecureContext: (options) => tlsServer?.setSecureContext(options),
  };
}

/**
 * The node:tls server of a tls listener: handshakes, checks client certificates, serves. It
 * never listens: a plain net server accepts, reads the PROXY header off the socket if the
 * listener takes one, and hands the socket to this server (see `handshakeNext`), so every tls
 * listener shares one handshake path — certificates (and their reload), SNI, ALPN, the
 * handshake timeout, mTLS, the TLS details of the close line — and a socket in its handshake
 * holds a connection slot (maxConnections) until the handshake ends.
 */
function createTlsHandshaker(spec: ListenSpec, acceptor: Acceptor, tls: TlsSettings): TlsServer {
  // Client certificates are checked here rather than by node during the handshake: node
  // would destroy the socket first, and the refusal could name neither client nor reason.
  const tlsServer = createTlsServer({
    ...tls.context,
    requestCert: tls.requestCert,
    rejectUnauthorized: false,
    allowHalfOpen: true,
    handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
  });
  tlsServer.on('secureConnection', (socket: TLSSocket) => {
    socket.on('error', onSocketError);
    // Half-open again now that it is a connection: a client's FIN asks for the rest of its echo.
    socket.allowHalfOpen = true;
    const held = endHandshake(socket);
    const peer = held?.peer ?? socketPeer(socket);
    if (tls.rejectUnauthorized && !socket.authorized) {
      if (held !== undefined) acceptor.release(held.hold);
      // A client that sent no certificate is reported by Node as UNABLE_TO_GET_ISSUER_CERT.
      const sentNone = Object.keys(socket.getPeerCertificate()).length === 0;
      acceptor.refuse(
        'tls_error',
        peer,
        sentNone ? 'no client certificate' : String(socket.authorizationError ?? 'client certificate refused'),
      );
      socket.destroy();
      return;
    }
    if (spec.noDelay) socket.setNoDelay(true);
    serve(socket, peer, acceptor, spec, held?.hold, handshakeMsOf(held));
  });
  tlsServer.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    const held = endHandshake(socket);
    if (held !== undefined) acceptor.release(held.hold);
    if (held?.abandoned !== true) acceptor.refuse('tls_error', held?.peer ?? socketPeer(socket), err.code ?? err.message);
    socket.destroy();
  });
  return tlsServer;
}

/** tcp and unix listeners: the client is served as soon as its header is read. */
function serveAfterHeader(acceptor: Acceptor, spec: ListenSpec): AfterHeader {
  return (socket, peer) => {
    const held = takeHeld(socket);
    if (held !== undefined) serve(socket, peer, acceptor, spec, held.hold);
    else socket.destroy(); // its slot was given up already
  };
}

/**
 * tls listeners: the socket goes to the tls server as if that had accepted it, once there is
 * room for it (it holds a connection slot until its handshake ends, so a flood of handshakes
 * cannot take more than `maxConnections` sockets), and after its PROXY header if the listener
 * takes one.
 *
 * The PROXY header comes in clear text before the ClientHello, so it is read off the accepted
 * socket first. Bytes read past the header (the ClientHello often shares its segment) were put
 * back on the socket, and node:tls feeds a socket's buffered bytes to the handshake before
 * anything else it reads (`initRead` in node's lib/_tls_wrap.js; Bun does likewise).
 *
 * What a PROXY header costs over a plain tls listener: the header read, exactly as on a
 * tcp+PROXY listener (a timer and a few closures per connection until the header is in; a
 * header that comes in pieces is copied as they arrive, at most V2_MAX_BYTES), and the bytes
 * read past it handed to the handshake in one call. There is no stream wrapper: the TLS layer
 * is built on the socket's own handle, as node:tls's own server does, so once the handshake is
 * done bytes take the same native path, with the same backpressure, at the same cost per byte
 * and per held connection. The TLS handshake timeout starts once the header is in: a client
 * has at most the PROXY timeout plus TLS_HANDSHAKE_TIMEOUT_MS to be served or refused.
 */
export function handshakeNext(startHandshake: (socket: Socket) => void, handshaking: Set<Socket>): AfterHeader {
  return (socket) => {
    const held = (socket as HeldSocket)[kHeld];
    if (held === undefined) {
      socket.destroy(); // its slot was given up already
      return;
    }
    handshaking.add(socket);
    held.handshaking = handshaking;
    held.handshakeStart = performance.now();
    // The TLSSocket takes allowHalfOpen from the socket it wraps (node's _tls_wrap, and Bun):
    // not half-open during the handshake, so a client's FIN ends it at once (a tlsClientError,
    // and its slot is free) rather than when the handshake times out. secureConnection turns
    // it back on (`duplex.allowHalfOpen` may change until 'end').
    socket.allowHalfOpen = false;
    startHandshake(socket);
  };
}

/** A stopping listener closes its sockets in their handshake: abandoned, not refused as the client's failure. */
export function abandonHandshakes(handshaking: Set<Socket>): void {
  for (const socket of handshaking) {
    const held = (socket as HeldSocket)[kHeld];
    if (held !== undefined) held.abandoned = true;
    socket.destroy();
  }
}
