/** The worker role of `--workers N`: serves, reports to the primary, drains when told. */
import cluster from 'node:cluster';
import type { EchoServerOptions } from '../config/options.js';
import { EXIT_OK } from '../core/exit-codes.js';
import { createEchoServer, type EchoServer } from '../server/server.js';
import { isPrimaryMessage, type WorkerMessage } from './cluster-protocol.js';
import { flagError } from './config.js';
import { type Run, runMetrics, usage } from './run.js';
import { tuneRuntime } from './runtime-tuning.js';
import { reportStartFailure } from './start-failure.js';
import { WorkerReporter } from './worker-reporter.js';

/** A worker of the pool: serves, answers the primary's stats requests, drains when told. */
export async function runWorker(run: Run, options: EchoServerOptions): Promise<number> {
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
      else
        void sendToPrimary({
          type: 'echod:reply',
          requestId: message.requestId,
          body: { worker: index, connections: server.connectionsSnapshot() },
        });
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

/** Resolves once the message is written to the primary (at once when there is none any more). */
function sendToPrimary(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) resolve();
    else process.send(message, undefined, {}, () => resolve());
  });
}
