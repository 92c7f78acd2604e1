/**
 * A start that failed after the configuration was accepted (a bind refused): one line on
 * stderr naming the listener, the cause and what to change, whatever the log level, and, when
 * the log is JSON for a machine, the same as a `fatal` line with the error's code. Never a
 * stack: the cause is the system's answer, not a defect of echod. Returns the exit code: 2
 * (EXIT_USAGE, which echod.service does not restart on) when only a configuration change can
 * help (a datagram socket from systemd), else 1.
 */
import type { ResolvedOptions } from '../config/options.js';
import { bindError, type BindTarget } from '../server/bind-error.js';
import { adminTarget, bindTarget } from './config.js';
import { EXIT_FAILURE, EXIT_USAGE } from '../core/exit-codes.js';
import type { CliLogger } from './logger.js';

export function reportStartFailure(
  stderr: { write(text: string): unknown },
  log: CliLogger,
  err: unknown,
  sockets: { listeners: ResolvedOptions['listeners']; admin: { host: string; port: number } | undefined },
): number {
  const targets: BindTarget[] = [
    ...sockets.listeners.map(bindTarget),
    ...(sockets.admin !== undefined ? [adminTarget(sockets.admin)] : []),
  ];
  const systemError = typeof err === 'object' && err !== null && typeof (err as NodeJS.ErrnoException).syscall === 'string';
  const failure = systemError ? bindError(err, targets) : null;
  const message = failure?.message ?? `cannot start: ${err instanceof Error ? err.message : String(err)}`;
  stderr.write(`echod: ${message}\n`);
  if (!log.pretty) log.logger.fatal({ code: (err as { code?: unknown } | null)?.code }, message);
  return failure?.configuration === true ? EXIT_USAGE : EXIT_FAILURE;
}
