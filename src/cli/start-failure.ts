/**
 * A start that failed after the configuration was accepted (a bind refused): one line on
 * stderr naming the listener, the cause and what to change, whatever the log level, and, when
 * the log is JSON for a machine, the same as a `fatal` line with the error's code. Never a
 * stack: the cause is the system's answer, not a defect of echod.
 */
import type { ResolvedOptions } from '../config/options.js';
import { bindError, type BindTarget } from '../server/bind-error.js';
import { adminTarget, bindTarget } from './config.js';
import type { CliLogger } from './logger.js';

export function reportStartFailure(
  stderr: { write(text: string): unknown },
  log: CliLogger,
  err: unknown,
  sockets: { listeners: ResolvedOptions['listeners']; admin: { host: string; port: number } | undefined },
): void {
  const targets: BindTarget[] = [...sockets.listeners.map(bindTarget), ...(sockets.admin !== undefined ? [adminTarget(sockets.admin)] : [])];
  const systemError = typeof err === 'object' && err !== null && typeof (err as NodeJS.ErrnoException).syscall === 'string';
  const message = systemError ? bindError(err, targets).message : `cannot start: ${err instanceof Error ? err.message : String(err)}`;
  stderr.write(`echod: ${message}\n`);
  if (!log.pretty) log.logger.fatal({ code: (err as { code?: unknown } | null)?.code }, message);
}
