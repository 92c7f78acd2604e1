/**
 * A `--threads` worker: runs one {@link Engine} on its share of the connections and talks to
 * main.ts (the main thread) in the messages below. Histograms cross as HdrHistogram's
 * compressed encoding.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Engine, type EngineReport, type EngineSpec, type IntervalReport } from './engine.js';
import { ConnectError } from './errors.js';
import { encodeHistogram } from './histogram.js';

/** An interval as it crosses threads. */
export type WireInterval = Omit<IntervalReport, 'histogram'> & { histogram: string };

export type MainMessage = { type: 'start' } | { type: 'roll'; id: number } | { type: 'stop' };

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'interval'; interval: WireInterval }
  | { type: 'rolled'; id: number; interval: WireInterval | null }
  | { type: 'done'; report: EngineReport };

function toWire(interval: IntervalReport): WireInterval {
  return { ...interval, histogram: encodeHistogram(interval.histogram) };
}

const port = parentPort;
if (port !== null) {
  const post = (message: WorkerMessage): void => port.postMessage(message);
  const engine = new Engine(workerData as EngineSpec, (interval) => post({ type: 'interval', interval: toWire(interval) }));
  port.on('message', (message: MainMessage) => {
    if (message.type === 'start') {
      void engine.run().then((report) => {
        post({ type: 'done', report });
        port.close();
      });
    } else if (message.type === 'roll') {
      const interval = engine.roll();
      post({ type: 'rolled', id: message.id, interval: interval === null ? null : toWire(interval) });
    } else {
      engine.stop();
    }
  });
  engine.connect().then(
    () => post({ type: 'ready' }),
    (err: unknown) => {
      post({ type: 'failed', message: err instanceof ConnectError ? err.message : String(err) });
      port.close();
    },
  );
}
