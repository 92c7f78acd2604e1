/**
 * What a transport (node:net, node:tls, Bun) and the server promise each other. The server
 * decides who is admitted and keeps the books; the transport moves bytes and reports events.
 */
import type { Connection, ConnectionContext } from './connection.js';
import type { Framer } from '../core/framing.js';
import type { FaultOptions } from '../config/faults.js';
import type { ResolvedListener } from '../config/options.js';
import type { ProxyHeader } from '../core/proxy-protocol.js';

export interface ListenSpec {
  listener: ResolvedListener;
  backlog: number;
  noDelay: boolean;
  reusePort: boolean;
  proxyProtocolTimeoutMs: number;
}

/** A connection the server agreed to serve, with what it needs to be built. */
export interface Admission {
  id: number;
  framer: Framer;
  context: ConnectionContext;
  /** The listener's URL form, for logs. */
  listener: string;
  /** The listener's faults, or null. */
  faults: FaultOptions | null;
}

/** Who is on the other end, as the transport knows it. */
export interface Peer {
  /** The client: the PROXY header's source when there is one, else the socket's peer. */
  address: string;
  port: number;
  /** The socket's own peer when a PROXY header named someone else (the balancer). */
  via?: { address: string; port: number };
  proxy?: ProxyHeader;
  /** Bytes of that PROXY header, read off the socket before the client's own bytes. */
  headerBytes?: number;
}

/** The server's side of accepting. */
export interface Acceptor {
  /** Null: refused (limits, or the server is draining); the transport closes the socket at once. */
  admit(peer: Peer, listener: ResolvedListener): Admission | null;
  /** The transport built the admitted connection; the server starts tracking it. */
  register(connection: Connection): void;
  /** A connection failed before it could be admitted (bad PROXY header, TLS handshake). */
  refuse(reason: 'proxy_protocol_error' | 'tls_error', peer: Peer, detail: string): void;
  /**
   * Reserves a slot for a socket accepted but not yet admitted (reading its PROXY header, in its
   * TLS handshake): such sockets count against maxConnections, and none is taken on while the
   * server is full. False: refused (`max_connections`, logged and counted); close the socket.
   */
  hold(peer: Peer): boolean;
  /** A held socket was admitted, refused or closed: its slot is free again. Once per hold. */
  release(): void;
}

export interface Listener {
  readonly config: ResolvedListener;
  address(): { address: string; family: string; port: number } | { path: string };
  /** Stops accepting; resolves once the listening socket is closed. */
  stop(): Promise<void>;
}
