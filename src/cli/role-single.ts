/** The single-process role: the echo server and, if asked for, the admin endpoint in one process. */
import { tlsFrom } from './config.js';
import { effectiveConfig } from './effective-config.js';
import { type Run, runMetrics, startAdmin, untilSignal } from './run.js';
import { tuneRuntime } from './runtime-tuning.js';
import { reportStartFailure } from './start-failure.js';
import type { EchoServer } from '../server/server.js';
import { EXIT_FAILURE, EXIT_OK } from '../core/exit-codes.js';

/** One process: the echo server, and the admin endpoint if asked for. */
export async function runSingle(run: Run, server: EchoServer): Promise<number> {
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
  logger.info({ version: run.version, ...effectiveConfig(run.config, server.options, 1) }, 'echod started');
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
