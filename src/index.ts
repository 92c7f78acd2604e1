/** echod's public library surface. Everything a user may import is named here. */
export { createEchoServer, EchoServer } from './server.js';
export type { ConnectionSummary, EchoServerEvents } from './server.js';
export { DEFAULTS, resolveOptions } from './options.js';
export { createMetrics } from './metrics.js';
export type { MetricsOptions } from './metrics.js';
export { AdminServer } from './admin.js';
export type { AdminServerOptions } from './admin.js';
export type { EchoMode, EchoServerOptions, ResolvedOptions } from './options.js';
export { EchodError, InvalidOptionError, ServerStateError } from './errors.js';
export { LineFramer, RawFramer } from './framing.js';
export type { Framer } from './framing.js';
export { CLOSE_REASONS, REJECT_REASONS } from './stats.js';
export type { CloseReason, RejectReason, ServerState, ServerStats } from './stats.js';
export type { Logger, LogLevel } from './log.js';
export { parseBytes, parseDurationMs } from './units.js';
