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
  /** Node tcp and unix listeners: read sockets into one shared buffer (see transports/node-direct-read.ts). */
  directRead: boolean;
}

/** A connection the server agreed to serve, with what it needs to be built. */
export interface Admission {
  id: number;
  /** Its framer; null: the shared idle line framer (`ConnectionContext.lineFramers`) until it needs its own. */
  framer: Framer | null;
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

/**
 * A socket's claim on a connection slot, from its accept until it is served or closed (opaque
 * to transports: they hand it back to the acceptor).
 */
export interface Hold {
  readonly address: string;
  readonly state: 'held' | 'open' | 'released';
}

/**
 * The server's side of accepting, one per listener (so every admission and refusal is booked to
 * it). Every accepted socket goes through it, on every transport: either `admit(peer)` at once,
 * or `hold(peer)` at accept, `identify()` once a PROXY header names the client, `admit(peer,
 * hold)` once it can be served (TLS handshake done), and `release(hold)` if it closes or fails first.
 */
export interface Acceptor {
  /**
   * May this client be served? With `hold`, the slot it claimed at accept becomes the
   * connection's; without, the limits are checked now. Null: rejected (limits, or the server
   * is draining), the slot freed; the transport closes the socket at once.
   */
  admit(peer: Peer, hold?: Hold): Admission | null;
  /** The transport built the admitted connection; the server starts tracking it. */
  register(connection: Connection): void;
  /** A connection failed before it could be admitted (bad PROXY header, TLS handshake). */
  refuse(reason: 'proxy_protocol_error' | 'tls_error', peer: Peer, detail: string): void;
  /**
   * Claims a slot for a socket accepted but not yet servable (reading its PROXY header, in its
   * TLS handshake), at its own address: it counts against maxConnections and that address's
   * maxConnectionsPerIp from now on. Null: rejected (logged and counted); close the socket.
   */
  hold(peer: Peer): Hold | null;
  /**
   * The held socket's PROXY header named its client (`peer`): its slot counts under that
   * address from now on, if the address has room. False: rejected (logged and counted) and the
   * slot freed; close the socket.
   */
  identify(hold: Hold, peer: Peer): boolean;
  /** A held socket closed or failed before it was admitted: its slot is free. Harmless to repeat, and after admission. */
  release(hold: Hold): void;
}

export interface Listener {
  readonly config: ResolvedListener;
  address(): { address: string; family: string; port: number } | { path: string };
  /** Stops accepting; resolves once the listening socket is closed. */
  stop(): Promise<void>;
}
