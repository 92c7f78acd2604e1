/**
 * What the three process roles (single, primary, worker) share: the command's I/O, the run's
 * settings, the admin endpoint and metrics they start, and the signal that ends a run.
 */
import type { Registry } from 'prom-client';
import { AdminServer, type AdminSource } from '../observability/admin.js';
import type { AdminLimits } from '../observability/admin-limits.js';
import { createMetrics } from '../observability/metrics.js';
import type { EchoServer } from '../server/server.js';
import { EXIT_USAGE } from '../core/exit-codes.js';
import { type CliConfig, DEFAULT_ADMIN_HOST } from './config.js';
import type { FlagValue } from './flags.js';
import type { CliLogger } from './logger.js';

export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown };
  /** Where SIGTERM and SIGINT come from (the process, or a stand-in in tests). */
  signals: NodeJS.EventEmitter;
}

/** One run of the command: its I/O, logger, flags and resolved configuration. */
export interface Run {
  io: CliIo;
  log: CliLogger;
  values: Map<string, FlagValue>;
  adminPort: number | undefined;
  adminLimits: AdminLimits;
  version: string;
  serverId: string;
  config: CliConfig;
}

/** The metrics of a serving process: its server's, labelled with the server id, and the log's drops. */
export function runMetrics(run: Run, server: EchoServer): Registry {
  return createMetrics(server, { version: run.version, labels: { server_id: run.serverId }, logLinesDropped: () => run.log.dropped });
}

export function startAdmin(run: Run, source: { echo: EchoServer; registry: Registry } | { source: AdminSource }): AdminServer {
  const host = run.config.admin?.host ?? DEFAULT_ADMIN_HOST;
  const labels = 'source' in source ? { metricsLabels: { server_id: run.serverId } } : {};
  return new AdminServer({
    ...source,
    ...labels,
    ...run.adminLimits,
    host,
    port: run.adminPort ?? 0,
    version: run.version,
    logger: run.log.logger,
  });
}

/**
 * Resolves at the first SIGTERM or SIGINT; a second one calls `exitNow`. One handler per signal
 * stays in place from start to exit: between removing a first handler and adding a second,
 * Node would restore the default action and a quick second signal would kill the process.
 */
export async function untilSignal(run: Run, exitNow: () => void): Promise<void> {
  const { io, log } = run;
  let first = true;
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (received: NodeJS.Signals): void => {
      if (first) {
        first = false;
        resolve(received);
        return;
      }
      log.logger.warn({ signal: received }, 'second signal, exiting at once');
      log.flushSync();
      exitNow();
    };
    io.signals.on('SIGTERM', onSignal);
    io.signals.on('SIGINT', onSignal);
  });
  log.logger.info({ signal }, 'signal received, draining (send it again to exit at once)');
}

/** A bad command line or configuration: one line on stderr, exit 2. */
export function usage(io: CliIo, err: unknown): number {
  const message = err instanceof Error ? err.message : String(err);
  io.stderr.write(`echod: ${message}\nTry 'echod --help' for the list of flags.\n`);
  return EXIT_USAGE;
}
