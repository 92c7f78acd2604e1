/**
 * The `echod` command. `main(argv)` is a plain function: it parses flags and environment,
 * starts the server (or, with `--workers N`, a pool of worker processes), serves until SIGTERM
 * or SIGINT, drains, and resolves to the exit code. A bad command line prints a message naming
 * the flag and resolves to 2 before anything listens.
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { once } from 'node:events';
import type { Registry } from 'prom-client';
import { AdminServer, type AdminSource } from '../observability/admin.js';
import type { AdminLimits } from '../observability/admin-limits.js';
import { createCliLogger, type CliLogger } from './logger.js';
import { isPrimaryMessage, type WorkerMessage } from './cluster-protocol.js';
import { UsageError } from '../core/errors.js';
import { type FlagValue, adminLimitsFrom, helpText, parseCommandLine, versionLine } from './flags.js';
import { type CliConfig, DEFAULT_ADMIN_HOST, flagError, resolveCliConfig, socketActivationFds, tlsFrom } from './config.js';
import { checkConfig } from './check-config.js';
import { effectiveConfig } from './effective-config.js';
import { reportStartFailure } from './start-failure.js';
import { tuneRuntime } from './runtime-tuning.js';
import { createMetrics } from '../observability/metrics.js';
import type { EchoServerOptions } from '../config/options.js';
import { createEchoServer, type EchoServer } from '../server/server.js';
import { WorkerPool } from './worker-pool.js';
import { workersAccept } from '../transports/reuse-port.js';
import { WorkerReporter } from './worker-reporter.js';

import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from '../core/exit-codes.js';

/** Set by the primary for its workers: the port it resolved (so `--port 0` means one port for all). */
const WORKER_PORT_ENV = 'ECHOD_WORKER_PORT';

export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown };
  /** Where SIGTERM and SIGINT come from (the process, or a stand-in in tests). */
  signals: NodeJS.EventEmitter;
}

const defaultIo = (): CliIo => ({ env: process.env, stdout: process.stdout, stderr: process.stderr, signals: process });

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: readonly string[], io: CliIo = defaultIo()): Promise<number> {
  // Subcommands: tools that work against any echo server (loaded only when asked for).
  if (argv[0] === 'bench') return (await import('../tools/bench.js')).benchMain(argv.slice(1), io);
  if (argv[0] === 'check') return (await import('../tools/check.js')).checkMain(argv.slice(1), io);
  if (argv[0] === 'config' && argv[1] === 'check') return main(['--check-config', ...argv.slice(2)], io);
  let config: CliConfig;
  let checkOnly: boolean;
  try {
    const parsed = parseCommandLine(argv, io.env);
    if (parsed.help) {
      io.stdout.write(`${helpText(packageVersion())}\n`);
      return EXIT_OK;
    }
    if (parsed.version) {
      io.stdout.write(`${versionLine(packageVersion())}\n`);
      return EXIT_OK;
    }
    checkOnly = parsed.checkConfig;
    config = resolveCliConfig(parsed, io.env);
  } catch (err) {
    return usage(io, err);
  }
  const { values, options } = config;
  const adminPort = config.admin?.port;
  let adminLimits: AdminLimits;
  try {
    adminLimits = adminLimitsFrom(values);
  } catch (err) {
    return usage(io, err);
  }
  const workers = (values.get('workers') as number | undefined) ?? 1;
  if (workers > 1 && socketActivationFds(io.env).length > 0) {
    // The inherited sockets belong to this process; workers could not serve them.
    return usage(io, new UsageError('--workers cannot be combined with systemd socket activation (LISTEN_FDS); use one process per socket unit'));
  }
  const unixListener = config.resolved.listeners.find((listener) => listener.protocol === 'unix');
  if (workers > 1 && unixListener !== undefined) {
    // Each worker would bind its own socket file at the path, and only one file can be there.
    const source = config.sources.get('workers') ?? '--workers';
    return usage(io, new UsageError(`${source} ${workers} cannot serve unix://${unixListener.path}: processes cannot share one socket file (run one echod per unix socket, or listen on tcp://)`));
  }
  if (checkOnly) return checkConfig(config, io, packageVersion(), workers);
  const log = createCliLogger(config.logLevel, config.logFormat, io.stdout.isTTY === true);
  const { serverId } = config.resolved;
  log.logger = log.logger.child({ serverId });
  const run: Run = { io, log, values, adminPort, adminLimits, version: packageVersion(), serverId, config };
  // Workers inherit the environment and flags: the primary alone says what is ignored.
  if (!cluster.isWorker) for (const warning of config.warnings) log.logger.warn(warning);

  if (cluster.isWorker) {
    const workerPort = io.env[WORKER_PORT_ENV];
    if (workerPort !== undefined) options.port = Number(workerPort);
    return runWorker(run, options);
  }
  // Checked here, before any process is forked, so a bad value exits 2 from the primary.
  let server: EchoServer;
  try {
    server = createEchoServer({ ...options, logger: log.logger });
  } catch (err) {
    return usage(io, flagError(err, config));
  }
  if (workers > 1) return runPrimary(run, workers, server.options.host, server.options.port);
  return runSingle(run, server);
}

interface Run {
  io: CliIo;
  log: CliLogger;
  values: Map<string, FlagValue>;
  adminPort: number | undefined;
  adminLimits: AdminLimits;
  version: string;
  serverId: string;
  config: CliConfig;
}

/** One process: the echo server, and the admin endpoint if asked for. */
async function runSingle(run: Run, server: EchoServer): Promise<number> {
  const { logger } = run.log;
  const registry = run.adminPort !== undefined ? runMetrics(run, server) : null;
  const admin = registry !== null ? startAdmin(run, { echo: server, registry }) : null;
  try {
    await admin?.listen();
    await server.listen();
  } catch (err) {
    const code = reportStartFailure(run.io.stderr, run.log, err, { listeners: server.options.listeners, admin: run.config.admin });
    await admin?.close();
    await run.log.close();
    return code;
  }
  logger.info({ version: run.version, ...effectiveConfig(server.options, run.config.admin) }, 'echod started');
  const reload = (): void => {
    try {
      const tls = tlsFrom(run.values, run.config);
      if (tls === undefined || server.options.tls === null) return;
      server.reloadTls(tls).catch((err: unknown) => logger.error({ err }, 'tls reload failed; keeping the old certificates'));
    } catch (err) {
      logger.error({ err }, 'tls reload failed; keeping the old certificates');
    }
  };
  run.io.signals.on('SIGHUP', reload);
  const untune = tuneRuntime(() => server.stats.bytesReceived, run.io.env);
  await untilSignal(run, () => process.exit(EXIT_FAILURE));
  untune();
  run.io.signals.removeListener('SIGHUP', reload);
  await server.close();
  // The admin endpoint outlives the drain, so probes see /readyz 503 until the very end.
  await admin?.close();
  await run.log.close();
  return EXIT_OK;
}

/** `--workers N`: the primary forks the workers and answers the admin endpoint for all of them. */
async function runPrimary(run: Run, workers: number, host: string, port: number): Promise<number> {
  const { logger } = run.log;
  const pool = new WorkerPool({ workers, logger, serverId: run.serverId, labels: { server_id: run.serverId }, env: { [WORKER_PORT_ENV]: String(port === 0 ? await freePort(host) : port) }, accept: workersAccept() });
  const admin = run.adminPort !== undefined ? startAdmin(run, { source: pool }) : null;
  try {
    await admin?.listen();
    await pool.start();
  } catch (err) {
    logger.fatal({ err }, 'cannot start the workers');
    await pool.close();
    await admin?.close();
    await run.log.close();
    return EXIT_FAILURE;
  }
  logger.info({ version: run.version, workers }, 'echod started');
  await untilSignal(run, () => {
    pool.kill();
    process.exit(EXIT_FAILURE);
  });
  await pool.close();
  await admin?.close();
  logger.info('all workers drained');
  await run.log.close();
  return EXIT_OK;
}

/** A worker of the pool: serves, answers the primary's stats requests, drains when told. */
async function runWorker(run: Run, options: EchoServerOptions): Promise<number> {
  const index = Number(run.io.env.ECHOD_WORKER_INDEX ?? 0);
  const logger = run.log.logger.child({ worker: index });
  let server: EchoServer;
  try {
    server = createEchoServer({ ...options, reusePort: true, logger });
  } catch (err) {
    return usage(run.io, flagError(err, run.config));
  }
  // The primary sums the workers' reports into its /stats and /metrics (see worker-reporter.ts).
  const reporter = new WorkerReporter(server, runMetrics(run, server), sendToPrimary);
  // A send to a primary that is gone fails with EPIPE here; its 'disconnect' drains this worker.
  cluster.worker?.on('error', (err) => logger.debug({ err }, 'primary channel error'));
  try {
    const address = await server.listen();
    await sendToPrimary({ type: 'echod:listening', address: address.address, port: address.port, family: address.family });
    reporter.start();
    tuneRuntime(() => server.stats.bytesReceived, run.io.env);
  } catch (err) {
    const code = reportStartFailure(run.io.stderr, { ...run.log, logger }, err, { listeners: server.options.listeners, admin: undefined });
    await run.log.close();
    return code;
  }
  const drained = new Promise<void>((resolve) => {
    process.on('message', (message: unknown) => {
      if (!isPrimaryMessage(message)) return;
      if (message.type === 'echod:shutdown') void server.close().then(resolve);
      else if (message.what === 'report') void reporter.report(message.requestId);
      else void sendToPrimary({ type: 'echod:reply', requestId: message.requestId, body: { worker: index, connections: server.connectionsSnapshot() } });
    });
    // The primary coordinates: a terminal's Ctrl-C reaches every process of the group, but only
    // the primary's decides. SIGTERM sent to a worker directly still drains it.
    process.on('SIGINT', () => {});
    process.once('SIGTERM', () => void server.close().then(resolve));
    process.once('disconnect', () => void server.close().then(resolve));
  });
  await drained;
  reporter.stop();
  // The last report, after the drain: the primary keeps it once this worker has exited.
  await reporter.report(null);
  await run.log.close();
  // The IPC channel would keep this process alive.
  if (process.connected) process.disconnect();
  return EXIT_OK;
}

/** The metrics of a serving process: its server's, labelled with the server id, and the log's drops. */
function runMetrics(run: Run, server: EchoServer): Registry {
  return createMetrics(server, { version: run.version, labels: { server_id: run.serverId }, logLinesDropped: () => run.log.dropped });
}

/** Resolves once the message is written to the primary (at once when there is none any more). */
function sendToPrimary(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) resolve();
    else process.send(message, undefined, {}, () => resolve());
  });
}

function startAdmin(run: Run, source: { echo: EchoServer; registry: Registry } | { source: AdminSource }): AdminServer {
  const host = run.config.admin?.host ?? DEFAULT_ADMIN_HOST;
  const labels = 'source' in source ? { metricsLabels: { server_id: run.serverId } } : {};
  return new AdminServer({ ...source, ...labels, ...run.adminLimits, host, port: run.adminPort ?? 0, version: run.version, logger: run.log.logger });
}

/**
 * Resolves at the first SIGTERM or SIGINT; a second one calls `exitNow`. One handler per signal
 * stays in place from start to exit: between removing a first handler and adding a second,
 * Node would restore the default action and a quick second signal would kill the process.
 */
async function untilSignal(run: Run, exitNow: () => void): Promise<void> {
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

/** A free port on `host`, for `--workers` with `--port 0` (every worker must bind the same one). */
async function freePort(host: string): Promise<number> {
  const probe = createNetServer();
  probe.listen({ host, port: 0 });
  await once(probe, 'listening');
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

function usage(io: CliIo, err: unknown): number {
  const message = err instanceof Error ? err.message : String(err);
  io.stderr.write(`echod: ${message}\nTry 'echod --help' for the list of flags.\n`);
  return EXIT_USAGE;
}
