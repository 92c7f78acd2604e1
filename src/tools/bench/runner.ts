/**
 * Where bench's engines run: one in this thread ({@link InlineRunner}), or one per worker
 * thread with `--threads` ({@link WorkerRunner}), each given its share of the connections.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Target } from '../target.js';
import { Engine, type EngineReport, type EngineSpec, type IntervalReport } from './engine.js';
import { ConnectError } from './errors.js';
import { decodeHistogram } from './histogram.js';
import type { BenchOptions } from './options.js';
import type { MainMessage, WireInterval, WorkerMessage } from './worker.js';

/** Shares connections, `--count` and `--rate` among the threads; connection ids stay unique. */
export function split(options: BenchOptions, target: Target): EngineSpec[] {
  const specs: EngineSpec[] = [];
  let firstConnId = 0;
  for (let i = 0; i < options.threads; i++) {
    const connections = share(options.connections, options.threads, i);
    specs.push({
      target,
      transport: options.transport,
      mode: options.mode,
      firstConnId: options.connectRate === null ? firstConnId : i,
      connections,
      depth: options.depth,
      size: options.size,
      warmupMs: options.warmupMs,
      durationMs: options.durationMs,
      count: options.count === null ? null : share(options.count, options.threads, i),
      rate: options.rate === null ? null : (options.rate * connections) / options.connections,
      connectRate: options.connectRate === null ? null : (options.connectRate * connections) / options.connections,
      roundTrips: options.roundTrips,
      idStride: options.threads,
      timeoutMs: options.timeoutMs,
      digest: options.digest,
    });
    firstConnId += connections;
  }
  return specs;
}

function share(total: number, parts: number, index: number): number {
  return Math.floor(total / parts) + (index < total % parts ? 1 : 0);
}

/** One engine, in this thread or in a worker. */
export interface Runner {
  /** Resolves once every connection is open; rejects with why not. */
  readonly ready: Promise<void>;
  /** Intervals the engine closes on its own (phase changes). */
  onInterval: (interval: IntervalReport) => void;
  start(): Promise<EngineReport>;
  roll(): Promise<IntervalReport | null>;
  /** Ends the measured window now. */
  stop(): void;
  dispose(): Promise<void>;
}

export class InlineRunner implements Runner {
  readonly ready: Promise<void>;
  onInterval: (interval: IntervalReport) => void = () => {};
  private readonly engine: Engine;

  constructor(spec: EngineSpec) {
    this.engine = new Engine(spec, (interval) => this.onInterval(interval));
    this.ready = this.engine.connect();
  }

  start(): Promise<EngineReport> {
    return this.engine.run();
  }

  roll(): Promise<IntervalReport | null> {
    return Promise.resolve(this.engine.roll());
  }

  stop(): void {
    this.engine.stop();
  }

  dispose(): Promise<void> {
    return Promise.resolve();
  }
}

/** The worker's module: compiled JavaScript next to this file, or TypeScript when run from source (tests, tsx). */
const WORKER_URL = new URL(`./worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

function startWorker(spec: EngineSpec): Worker {
  if (!WORKER_URL.pathname.endsWith('.ts')) return new Worker(WORKER_URL, { workerData: spec });
  // From source, under tsx: a worker does not inherit the loader hooks, so it registers tsx's first.
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(code, { eval: true, workerData: spec });
}

export class WorkerRunner implements Runner {
  readonly ready: Promise<void>;
  onInterval: (interval: IntervalReport) => void = () => {};
  private readonly worker: Worker;
  private readonly rolls = new Map<number, (interval: IntervalReport | null) => void>();
  private nextRoll = 0;
  private done: ((report: EngineReport) => void) | null = null;
  private failed: ((err: Error) => void) | null = null;
  private exited = false;

  constructor(spec: EngineSpec) {
    this.worker = startWorker(spec);
    this.ready = new Promise((resolve, reject) => {
      this.failed = reject;
      this.worker.on('message', (message: WorkerMessage) => {
        switch (message.type) {
          case 'ready':
            resolve();
            break;
          case 'failed':
            reject(new ConnectError(message.message));
            break;
          case 'interval':
            this.onInterval(fromWire(message.interval));
            break;
          case 'rolled':
            this.rolls.get(message.id)?.(message.interval === null ? null : fromWire(message.interval));
            this.rolls.delete(message.id);
            break;
          case 'done':
            this.done?.(message.report);
            break;
        }
      });
    });
    this.worker.on('error', (err) => this.failed?.(err));
    this.worker.on('exit', () => {
      this.exited = true;
      for (const resolve of this.rolls.values()) resolve(null);
      this.rolls.clear();
    });
  }

  start(): Promise<EngineReport> {
    return new Promise((resolve, reject) => {
      this.done = resolve;
      this.failed = reject;
      this.post({ type: 'start' });
    });
  }

  roll(): Promise<IntervalReport | null> {
    if (this.exited) return Promise.resolve(null);
    const id = this.nextRoll++;
    return new Promise((resolve) => {
      this.rolls.set(id, resolve);
      this.post({ type: 'roll', id });
    });
  }

  stop(): void {
    if (!this.exited) this.post({ type: 'stop' });
  }

  private post(message: MainMessage): void {
    this.worker.postMessage(message);
  }

  async dispose(): Promise<void> {
    if (!this.exited) await this.worker.terminate();
  }
}

function fromWire(interval: WireInterval): IntervalReport {
  return { ...interval, histogram: decodeHistogram(interval.histogram) };
}
