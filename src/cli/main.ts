/**
 * The `echod` command. `main(argv)` is a plain function: it parses flags and environment,
 * starts the server (or, with `--workers N`, a pool of worker processes), serves until SIGTERM
 * or SIGINT, drains, and resolves to the exit code. A bad command line prints a message naming
 * the flag and resolves to 2 before anything listens.
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { UsageError } from '../core/errors.js';
import { formatListener, isUnixListener } from '../config/listen-url.js';
import { EXIT_OK, EXIT_USAGE } from '../core/exit-codes.js';
import { createEchoServer, type EchoServer } from '../server/server.js';
import { checkConfig } from './check-config.js';
import { type CliConfig, flagError, resolveCliConfig, socketActivationFds } from './config.js';
import { adminLimitsFrom, commandOf, helpText, parseCommandLine, unknownCommandMessage, versionLine } from './flags.js';
import { createCliLogger } from './logger.js';
import type { AdminLimits } from '../observability/admin-limits.js';
import { runPrimary, WORKER_PORT_ENV } from './role-primary.js';
import { runSingle } from './role-single.js';
import { runWorker } from './role-worker.js';
import { type CliIo, type Run, usage } from './run.js';

export type { CliIo } from './run.js';

const defaultIo = (): CliIo => ({ env: process.env, stdout: process.stdout, stderr: process.stderr, signals: process });

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: readonly string[], io: CliIo = defaultIo()): Promise<number> {
  // `echod help` is what people type after `git help`; a command it names shows its own help.
  if (argv[0] === 'help') return main(argv.length > 1 ? [...argv.slice(1), '--help'] : ['--help'], io);
  const words = commandOf(argv);
  if (words !== null && 'unknown' in words) {
    io.stderr.write(`echod: ${unknownCommandMessage(words.unknown)}\n`);
    return EXIT_USAGE;
  }
  if (words !== null) {
    const { run } = words.command;
    return 'load' in run ? (await run.load())(words.rest, io) : main([...run.flags, ...words.rest], io);
  }
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
    return usage(
      io,
      new UsageError('--workers cannot be combined with systemd socket activation (LISTEN_FDS); use one process per socket unit'),
    );
  }
  const unixListener = config.resolved.listeners.find(isUnixListener);
  if (workers > 1 && unixListener !== undefined) {
    // Each worker would bind its own socket file at the path, and only one file can be there.
    const source = config.sources.get('workers') ?? '--workers';
    return usage(
      io,
      new UsageError(
        `${source} ${workers} cannot serve ${formatListener(unixListener)}: processes cannot share one socket file (run one echod per unix socket, or listen on tcp://)`,
      ),
    );
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
