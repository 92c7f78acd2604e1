// The TLS and Unix-socket clients are the kit's one `Client` (clients.ts), through its `tls`,
// `tlsAttempt` and `unix` statics. This module keeps the name the protocol suites import, as a
// class of its own so that a `StreamClient | Client` union in a test stays a union.
import type { Socket } from 'node:net';
import { Client } from './clients.js';

export class StreamClient<S extends Socket = Socket> extends Client<S> {}

export { echoOf } from './clients.js';
