/**
 * What a transport (node:net, Bun) and the server promise each other. The server decides who
 * is admitted and keeps the books; the transport moves bytes and reports events.
 */
import type { Connection, ConnectionContext } from './connection.js';
import type { Framer } from './framing.js';

export interface ListenSpec {
  host: string;
  port: number;
  backlog: number;
  noDelay: boolean;
  reusePort: boolean;
}

/** A connection the server agreed to serve, with what it needs to be built. */
export interface Admission {
  id: number;
  framer: Framer;
  context: ConnectionContext;
}

/** The server's side of accepting. */
export interface Acceptor {
  /** Null: refused (limits, or the server is draining); the transport closes the socket at once. */
  admit(remoteAddress: string, remotePort: number): Admission | null;
  /** The transport built the admitted connection; the server starts tracking it. */
  register(connection: Connection): void;
}

export interface Listener {
  address(): { address: string; family: string; port: number };
  /** Stops accepting; resolves once the listening socket is closed. */
  stop(): Promise<void>;
}
