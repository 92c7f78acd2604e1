/**
 * `--workers N`: the primary process. It runs no echo server itself; it forks N workers that
 * share the port (node:cluster), restarts any that dies, answers the admin endpoint for all
 * of them (metrics summed by prom-client's AggregatorRegistry, stats summed here), and drains
 * them all on SIGTERM.
 *
 * Why node:cluster's round-robin: the primary accepts and hands each connection to the next
 * worker, so connections spread evenly. With a shared accept queue (SCHED_NONE) or SO_REUSEPORT
 * the spread follows scheduling or hashing, and one process can run into the 20,000 open-file
 * limit while others sit below it (see docs/performance.md for the measurements).
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { AdminSource } from '../observability/admin.js';
import type { WorkerStatus } from '../observability/status-data.js';
import { isWorkerMessage, type PrimaryMessage, sumStats, type WorkerMessage } from './cluster-protocol.js';
import type { Logger } from '../core/log.js';
import type { ServerState, ServerStats } from '../core/stats.js';

/** A worker that dies within this long of starting counts as a crash loop: back off. */
const CRASH_WINDOW_MS = 10_000;
const RESTART_BACKOFF_MIN_MS = 100;
const RESTART_BACKOFF_MAX_MS = 30_000;
/** How long a stats request waits for the workers' answers. */
const STATS_TIMEOUT_MS = 2000;

export interface WorkerPoolOptions {
  workers: number;
  serverId: string;
  logger: Logger;
  /** Extra environment for the workers. */
  env?: Record<string, string>;
}

interface Slot {
  index: number;
  worker: Worker | null;
  startedAt: number;
  listening: boolean;
  backoffMs: number;
  restartTimer: NodeJS.Timeout | null;
  /** Times this slot's worker was restarted after dying (status page). */
  restarts: number;
  /** Open connections in this worker's last stats answer (status page). */
  active: number;
}

export class WorkerPool implements AdminSource {
  private stateValue: ServerState = 'idle';
  private readonly slots: Slot[];
  private readonly options: WorkerPoolOptions;
  private readonly aggregator = new AggregatorRegistry();
  private nextRequestId = 1;
  private readonly pending = new Map<number, { answers: unknown[]; expected: number; done: () => void }>();
  private startedAt: Date | null = null;
  private allListening: (() => void) | null = null;
  private closing: Promise<void> | null = null;
  readonly metricsContentType = this.aggregator.contentType;

  constructor(options: WorkerPoolOptions) {
    this.options = options;
    this.slots = Array.from({ length: options.workers }, (_, index) => ({ index, worker: null, startedAt: 0, listening: false, backoffMs: RESTART_BACKOFF_MIN_MS, restartTimer: null, restarts: 0, active: 0 }));
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
      this.allListening = resolve;
      cluster.on('exit', (worker, code, signal) => {
        if (this.stateValue === 'idle') reject(new Error(`worker ${worker.id} exited before listening (code ${code}, signal ${signal})`));
      });
    });
    for (const slot of this.slots) this.fork(slot);
    await listening;
    this.startedAt = new Date();
    this.stateValue = 'listening';
    this.options.logger.info({ workers: this.slots.length }, 'all workers listening');
  }

  async stats(): Promise<object> {
    const answers = (await this.ask('stats')) as ServerStats[];
    return sumStats(answers, { serverId: this.options.serverId, state: this.stateValue, ready: this.ready, startedAt: this.startedAt?.toISOString() ?? null });
  }

  /** Every worker's open connections, each marked with its worker's index. */
  async connections(): Promise<object[]> {
    const answers = (await this.ask('connections')) as { worker: number; connections: object[] }[];
    return answers.flatMap(({ worker, connections }) => connections.map((connection) => ({ worker, ...connection })));
  }

  /** Asks every live worker; resolves with the answers that came within STATS_TIMEOUT_MS. */
  private async ask(what: 'stats' | 'connections'): Promise<unknown[]> {
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

  /** Each worker as the status page lists it; connections as of the last stats request. */
  workers(): WorkerStatus[] {
    return this.slots.map((slot) => ({ index: slot.index, pid: slot.worker?.process.pid ?? null, listening: slot.listening, connections: slot.active, restarts: slot.restarts }));
  }

  metrics(): Promise<string> {
    return this.aggregator.clusterMetrics();
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
    worker.on('message', (message: unknown) => this.onMessage(slot, message));
    worker.on('exit', (code, signal) => this.onExit(slot, worker, code, signal));
  }

  private onMessage(slot: Slot, message: unknown): void {
    if (!isWorkerMessage(message)) return;
    const typed: WorkerMessage = message;
    if (typed.type === 'echod:listening') {
      slot.listening = true;
      if (this.slots.every((each) => each.listening)) this.allListening?.();
    } else {
      const pending = this.pending.get(typed.requestId);
      if (pending === undefined) return;
      const body = typed.body as Partial<ServerStats> | null;
      if (typeof body?.connections?.active === 'number') slot.active = body.connections.active;
      pending.answers.push(typed.body);
      if (pending.answers.length >= pending.expected) pending.done();
    }
  }

  private onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    slot.worker = null;
    slot.listening = false;
    if (this.stateValue !== 'listening') return; // starting (start() fails) or draining (expected)
    const lived = Date.now() - slot.startedAt;
    slot.backoffMs = lived < CRASH_WINDOW_MS ? Math.min(slot.backoffMs * 2, RESTART_BACKOFF_MAX_MS) : RESTART_BACKOFF_MIN_MS;
    this.options.logger.error({ worker: slot.index, pid: worker.process.pid, code, signal, restartInMs: slot.backoffMs }, 'worker died; restarting it');
    slot.restarts++;
    slot.restartTimer = setTimeout(() => this.fork(slot), slot.backoffMs);
  }
}

function send(worker: Worker, message: PrimaryMessage): void {
  try {
    worker.send(message);
  } catch {
    // The worker is going away; its exit is handled in onExit.
  }
}
