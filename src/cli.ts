/**
 * The `echod` command. `main(argv)` is a plain function: it parses flags and environment,
 * starts the server, serves until SIGTERM or SIGINT, drains, and resolves to the exit code.
 * A bad command line prints a message naming the flag and resolves to 2 before anything listens.
 */
import { readFileSync } from 'node:fs';
import { createCliLogger, type LogFormat } from './cli-logger.js';
import { AdminServer } from './admin.js';
import { InvalidOptionError } from './errors.js';
import { type FlagValue, helpText, parseCommandLine, UsageError } from './flags.js';
import { createMetrics } from './metrics.js';
import type { EchoServerOptions } from './options.js';
import { createEchoServer } from './server.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Library option → the flag that sets it, to name the flag in errors. */
const OPTION_FLAGS: Readonly<Record<string, string>> = {
  host: 'host',
  port: 'port',
  mode: 'mode',
  maxLineBytes: 'max-line-bytes',
  maxConnections: 'max-connections',
  maxConnectionsPerIp: 'max-connections-per-ip',
  idleTimeoutMs: 'idle-timeout',
  writeStallTimeoutMs: 'write-stall-timeout',
  drainTimeoutMs: 'drain-timeout',
  shutdownDelayMs: 'shutdown-delay',
  backlog: 'backlog',
};

export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown };
  /** Where SIGTERM and SIGINT come from (the process, or a stand-in in tests). */
  signals: NodeJS.EventEmitter;
}

const defaultIo = (): CliIo => ({ env: process.env, stdout: process.stdout, stderr: process.stderr, signals: process });

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: readonly string[], io: CliIo = defaultIo()): Promise<number> {
  let values: Map<string, FlagValue>;
  try {
    const parsed = parseCommandLine(argv, io.env);
    if (parsed.help) {
      io.stdout.write(`${helpText(packageVersion())}\n`);
      return EXIT_OK;
    }
    if (parsed.version) {
      io.stdout.write(`${packageVersion()}\n`);
      return EXIT_OK;
    }
    values = parsed.values;
  } catch (err) {
    return usage(io, err);
  }

  const options: EchoServerOptions = {};
  for (const [option, flag] of Object.entries(OPTION_FLAGS)) {
    const value = values.get(flag);
    if (value !== undefined) (options as Record<string, FlagValue>)[option] = value;
  }
  const level = (values.get('log-level') as string | undefined) ?? 'info';
  const format = (values.get('log-format') as LogFormat | undefined) ?? 'auto';
  const { logger, close: closeLog, flushSync } = createCliLogger(level, format, io.stdout.isTTY === true);

  let server;
  try {
    server = createEchoServer({ ...options, logger });
  } catch (err) {
    if (err instanceof InvalidOptionError) {
      const flag = OPTION_FLAGS[err.option] ?? err.option;
      return usage(io, new UsageError(err.message.replace(`invalid ${err.option}:`, `invalid --${flag}:`)));
    }
    throw err;
  }

  const version = packageVersion();
  const adminPort = values.get('admin-port') as number | undefined;
  let admin: AdminServer | null = null;
  try {
    if (adminPort !== undefined) {
      if (adminPort > 65_535) return usage(io, new UsageError(`invalid --admin-port: ${adminPort} (expected an integer from 0 to 65535)`));
      const registry = createMetrics(server, { version });
      admin = new AdminServer({ echo: server, registry, host: (values.get('admin-host') as string | undefined) ?? '127.0.0.1', port: adminPort, logger });
      await admin.listen();
    }
    await server.listen();
  } catch (err) {
    logger.fatal({ err }, 'cannot listen');
    await admin?.close();
    await closeLog();
    return EXIT_FAILURE;
  }
  logger.info({ version, options: loggableOptions(server.options) }, 'echod started');

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    io.signals.once('SIGTERM', () => resolve('SIGTERM'));
    io.signals.once('SIGINT', () => resolve('SIGINT'));
  });
  logger.info({ signal }, 'signal received, draining (send it again to exit at once)');
  const onSecondSignal = (second: NodeJS.Signals): void => {
    logger.warn({ signal: second }, 'second signal, exiting at once');
    flushSync();
    process.exit(EXIT_FAILURE);
  };
  io.signals.once('SIGTERM', () => onSecondSignal('SIGTERM'));
  io.signals.once('SIGINT', () => onSecondSignal('SIGINT'));
  await server.close();
  // The admin endpoint outlives the drain, so probes see /readyz 503 until the very end.
  await admin?.close();
  await closeLog();
  return EXIT_OK;
}

function loggableOptions(options: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const { logger: _logger, ...rest } = options;
  return rest;
}

function usage(io: CliIo, err: unknown): number {
  const message = err instanceof Error ? err.message : String(err);
  io.stderr.write(`echod: ${message}\nTry 'echod --help' for the list of flags.\n`);
  return EXIT_USAGE;
}
