/**
 * `--workers N`: the primary process. It runs no echo server itself; it forks N workers that
 * share the port (node:cluster), restarts any that dies, answers the admin endpoint for all
 * of them (metrics summed by prom-client's AggregatorRegistry, stats summed here), and drains
 * them all on SIGTERM.
 *
 * How connections reach the workers (`accept`, logged with `all workers listening`): where the
 * runtime offers it (Bun; Node 22.12 and later, see transports/reuse-port.ts) each worker's tcp
 * listeners accept on a socket of their own (SO_REUSEPORT) and the kernel spreads connections
 * by a hash of their addresses: no process relays them. Elsewhere (Node 20) node:cluster's
 * round-robin: the primary accepts each connection and hands it to the next worker over IPC,
 * which spreads them exactly evenly but costs the primary work per connection (figures:
 * docs/performance.md). Never a shared accept queue (SCHED_NONE): its spread follows
 * scheduling, and one process could run into the open-file limit while others sit below it.
 *
 * A worker that dies: its last report stays in the sums (counters never go backwards), the
 * connections it had open then are counted and logged as closed with reason `worker_exit`,
 * and the restart is counted (`echod_worker_restarts_total`) and logged once.
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { AdminSource } from '../observability/admin.js';
import type { WorkerStatus } from '../observability/status-data.js';
import { createPoolMetrics } from '../observability/metrics.js';
import {
  foldMetrics,
  isWorkerMessage,
  type MetricsJson,
  type OpenedConnection,
  type PoolStats,
  type PrimaryMessage,
  retire,
  sumStats,
  type WorkerMessage,
  type WorkerReport,
} from './cluster-protocol.js';
import type { Logger } from '../core/log.js';
import type { ServerState, ServerStats } from '../core/stats.js';

/** A worker that dies within this long of starting counts as a crash loop: back off. */
const CRASH_WINDOW_MS = 10_000;
const RESTART_BACKOFF_MIN_MS = 100;
const RESTART_BACKOFF_MAX_MS = 30_000;
/** How long a stats request waits for the workers' answers (a late one's last report counts). */
const STATS_TIMEOUT_MS = 2000;

export interface WorkerPoolOptions {
  workers: number;
  serverId: string;
  logger: Logger;
  /** Extra environment for the workers. */
  env?: Record<string, string>;
  /** Labels on the pool's own series (the workers label theirs). @default {} */
  labels?: Record<string, string>;
  /** How the workers get their connections (`reuseport` or `round-robin`), for the log. */
  accept?: string;
}

interface Slot {
  index: number;
  worker: Worker | null;
  startedAt: number;
  listening: boolean;
  backoffMs: number;
  restartTimer: NodeJS.Timeout | null;
  /** The latest report of the live worker, null until its first. */
  last: WorkerReport | null;
  /** Its open connections as of that report, by id. */
  open: Map<number, OpenedConnection>;
  /** Times this slot's worker was restarted after dying (status page). */
  restarts: number;
}

export class WorkerPool implements AdminSource {
  private stateValue: ServerState = 'idle';
  private readonly slots: Slot[];
  private readonly options: WorkerPoolOptions;
  private nextRequestId = 1;
  private readonly pending = new Map<number, { answers: unknown[]; expected: number; done: () => void }>();
  private startedAt: Date | null = null;
  private starting: { resolve: () => void; reject: (err: Error) => void } | null = null;
  private closing: Promise<void> | null = null;
  /** What the dead workers counted, summed: their last reports, retired. */
  private retiredStats: ServerStats[] = [];
  private retiredMetrics: MetricsJson = [];
  private restarts = 0;
  private readonly poolRegistry: Registry;
  readonly metricsContentType = AggregatorRegistry.PROMETHEUS_CONTENT_TYPE;

  constructor(options: WorkerPoolOptions) {
    this.options = options;
    this.slots = Array.from({ length: options.workers }, (_, index) => ({
      index,
      worker: null,
      startedAt: 0,
      listening: false,
      backoffMs: RESTART_BACKOFF_MIN_MS,
      restartTimer: null,
      last: null,
      open: new Map(),
      restarts: 0,
    }));
    this.poolRegistry = createPoolMetrics(() => this.restarts, options.labels);
  }

  get state(): ServerState {
    return this.stateValue;
  }

  get ready(): boolean {
    return this.stateValue === 'listening';
  }

  /** Forks every worker; resolves when all of them listen (rejects if one exits first). */
  async start(): Promise<void> {
    const listening = new Promise<void>((resolve, reject) => {
      this.starting = { resolve, reject };
    });
    for (const slot of this.slots) this.fork(slot);
    await listening;
    this.starting = null;
    this.startedAt = new Date();
    this.stateValue = 'listening';
    this.options.logger.info(
      { workers: this.slots.length, ...(this.options.accept !== undefined ? { accept: this.options.accept } : {}) },
      'all workers listening',
    );
  }

  /** Every count summed over the live workers' latest reports and the dead workers' last ones. */
  async stats(): Promise<PoolStats> {
    const answered = await this.ask('report');
    return sumStats([...this.liveReports().map((report) => report.stats), ...this.retiredStats], {
      serverId: this.options.serverId,
      state: this.stateValue,
      ready: this.ready,
      startedAt: this.startedAt?.toISOString() ?? null,
      workers: answered.length,
      workerRestarts: this.restarts,
    });
  }

  /** Every worker's open connections, each marked with its worker's index. */
  async connections(): Promise<object[]> {
    const answers = (await this.ask('connections')) as { worker: number; connections: object[] }[];
    return answers.flatMap(({ worker, connections }) => connections.map((connection) => ({ worker, ...connection })));
  }

  /** Each worker as the status page lists it; connections as of its last report. */
  workers(): WorkerStatus[] {
    return this.slots.map((slot) => ({
      index: slot.index,
      pid: slot.worker?.process.pid ?? null,
      listening: slot.listening,
      connections: slot.last?.stats.connections.active ?? 0,
      restarts: slot.restarts,
    }));
  }

  async metrics(): Promise<string> {
    await this.ask('report');
    const all = [...this.liveReports().map((report) => report.metrics), this.retiredMetrics, await this.poolRegistry.getMetricsAsJSON()];
    return AggregatorRegistry.aggregate(all).metrics();
  }

  private liveReports(): WorkerReport[] {
    return this.slots.map((slot) => slot.last).filter((report): report is WorkerReport => report !== null);
  }

  /** Asks every live worker; resolves with the answers that came within STATS_TIMEOUT_MS. */
  private async ask(what: 'report' | 'connections'): Promise<unknown[]> {
    const workers = this.slots.map((slot) => slot.worker).filter((worker): worker is Worker => worker !== null && worker.isConnected());
    const requestId = this.nextRequestId++;
    const answers: unknown[] = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, STATS_TIMEOUT_MS);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.pending.set(requestId, { answers, expected: workers.length, done });
      if (workers.length === 0) done();
      for (const worker of workers) send(worker, { type: 'echod:request', requestId, what });
    });
    this.pending.delete(requestId);
    return answers;
  }

  /** Readiness off at once; every worker drains (as on SIGTERM); resolves when all have exited. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /** The second signal: end every worker now. */
  kill(): void {
    for (const slot of this.slots) slot.worker?.process.kill('SIGKILL');
  }

  private async shutdown(): Promise<void> {
    this.stateValue = 'draining';
    const exits: Promise<void>[] = [];
    for (const slot of this.slots) {
      if (slot.restartTimer !== null) clearTimeout(slot.restartTimer);
      const worker = slot.worker;
      if (worker === null || worker.isDead()) continue;
      exits.push(new Promise((resolve) => worker.once('exit', () => resolve())));
      if (worker.isConnected()) send(worker, { type: 'echod:shutdown' });
      else worker.process.kill('SIGTERM');
    }
    await Promise.all(exits);
    this.stateValue = 'closed';
  }

  private fork(slot: Slot): void {
    slot.restartTimer = null;
    const worker = cluster.fork({ ...this.options.env, ECHOD_WORKER_INDEX: String(slot.index) });
    slot.worker = worker;
    slot.startedAt = Date.now();
    slot.listening = false;
    worker.on('message', (message: unknown) => this.onMessage(slot, worker, message));
    worker.on('exit', (code, signal) => this.onExit(slot, worker, code, signal));
    // A send to a worker that just died fails with EPIPE here; its exit is handled in onExit.
    worker.on('error', (err) => this.options.logger.debug({ err, worker: slot.index }, 'worker channel error'));
  }

  private onMessage(slot: Slot, worker: Worker, message: unknown): void {
    if (slot.worker !== worker || !isWorkerMessage(message)) return;
    const typed: WorkerMessage = message;
    if (typed.type === 'echod:listening') {
      slot.listening = true;
      if (this.slots.every((each) => each.listening)) this.starting?.resolve();
      return;
    }
    if (typed.type === 'echod:report') this.apply(slot, typed.report);
    if (typed.requestId === null) return;
    const pending = this.pending.get(typed.requestId);
    if (pending === undefined) return;
    pending.answers.push(typed.type === 'echod:report' ? typed.report : typed.body);
    if (pending.answers.length >= pending.expected) pending.done();
  }

  private apply(slot: Slot, report: WorkerReport): void {
    slot.last = report;
    for (const opened of report.opened) slot.open.set(opened.connId, opened);
    for (const id of report.closed) slot.open.delete(id);
  }

  private onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    slot.worker = null;
    slot.listening = false;
    const { logger } = this.options;
    const dead = { worker: slot.index, workerPid: worker.process.pid, code, signal };
    const open = this.retire(slot);
    if (this.stateValue === 'idle') {
      logger.error(dead, 'worker exited before listening');
      this.starting?.reject(new Error(`worker ${slot.index} exited before listening (code ${code}, signal ${signal})`));
      return;
    }
    if (this.stateValue !== 'listening') {
      logger.info({ ...dead, openConnections: open }, 'worker exited');
      return;
    }
    const lived = Date.now() - slot.startedAt;
    slot.backoffMs = lived < CRASH_WINDOW_MS ? Math.min(slot.backoffMs * 2, RESTART_BACKOFF_MAX_MS) : RESTART_BACKOFF_MIN_MS;
    this.restarts++;
    slot.restarts++;
    logger.error({ ...dead, openConnections: open, restartInMs: slot.backoffMs }, 'worker died; restarting it');
    slot.restartTimer = setTimeout(() => this.fork(slot), slot.backoffMs);
  }

  /**
   * Keeps a dead worker's last report in the sums, and counts and logs the connections it had
   * open then as closed with reason `worker_exit`. Returns how many there were.
   */
  private retire(slot: Slot): number {
    const last = slot.last;
    const open = [...slot.open.values()];
    slot.last = null;
    slot.open = new Map();
    if (last === null) return 0;
    const retired = retire(last);
    this.retiredStats = [
      sumStats([...this.retiredStats, retired.stats], {
        serverId: '',
        state: 'closed',
        ready: false,
        startedAt: null,
        workers: 0,
        workerRestarts: 0,
      }),
    ];
    this.retiredMetrics = foldMetrics(this.retiredMetrics, retired.metrics);
    for (const connection of open)
      this.options.logger.warn({ worker: slot.index, ...connection, reason: 'worker_exit' }, 'connection closed');
    return last.stats.connections.active;
  }
}

function send(worker: Worker, message: PrimaryMessage): void {
  try {
    worker.send(message);
  } catch {
    // The worker is going away; its exit is handled in onExit.
  }
}
