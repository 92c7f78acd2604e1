// The TLS and Unix-socket clients are `Client` (clients.ts): one client for every stream.
// This module keeps the name the protocol suites import.
export { Client as StreamClient, echoOf } from './clients.js';
