/** The primary role of `--workers N`: forks the workers and answers the admin endpoint for all. */
import { once } from 'node:events';
import { createServer as createNetServer } from 'node:net';
import { workersAccept } from '../transports/reuse-port.js';
import { EXIT_FAILURE, EXIT_OK } from '../core/exit-codes.js';
import { effectiveConfig } from './effective-config.js';
import { type Run, startAdmin, untilSignal } from './run.js';
import { WorkerPool } from './worker-pool.js';

/** Set by the primary for its workers: the port it resolved (so `--port 0` means one port for all). */
export const WORKER_PORT_ENV = 'ECHOD_WORKER_PORT';

/** `--workers N`: the primary forks the workers and answers the admin endpoint for all of them. */
export async function runPrimary(run: Run, workers: number, host: string, port: number): Promise<number> {
  const { logger } = run.log;
  const pool = new WorkerPool({
    workers,
    logger,
    serverId: run.serverId,
    labels: { server_id: run.serverId },
    env: { [WORKER_PORT_ENV]: String(port === 0 ? await freePort(host) : port) },
    accept: workersAccept(),
  });
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
  logger.info({ version: run.version, ...effectiveConfig(run.config, run.config.resolved, workers) }, 'echod started');
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

/** A free port on `host`, for `--workers` with `--port 0` (every worker must bind the same one). */
async function freePort(host: string): Promise<number> {
  const probe = createNetServer();
  probe.listen({ host, port: 0 });
  await once(probe, 'listening');
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
