/** echod's public library surface. Everything a user may import is named here. */
export { createEchoServer, EchoServer } from './server/server.js';
export type { ConnectionSummary, EchoServerEvents } from './server/server.js';
export { DEFAULTS, resolveOptions } from './config/options.js';
export { createMetrics } from './observability/metrics.js';
export type { MetricsOptions } from './observability/metrics.js';
export { AdminServer } from './observability/admin.js';
export type { AdminServerOptions } from './observability/admin.js';
export type { EchoMode, EchoServerOptions, ResolvedOptions } from './config/options.js';
export { EchodError, InvalidOptionError, ServerStateError } from './core/errors.js';
export { LineFramer, RawFramer } from './core/framing.js';
export type { Framer } from './core/framing.js';
export { CLOSE_REASONS, REJECT_REASONS } from './core/stats.js';
export type { CloseReason, RejectReason, ServerState, ServerStats } from './core/stats.js';
export type { Logger, LogLevel } from './core/log.js';
export { parseBytes, parseDurationMs } from './core/units.js';
