// Liveness and readiness probes as the kubelet sends them during an attack on the admin port:
// GET /healthz and /readyz on a fresh connection every interval, each given 1 s (the kubelet's
// default timeout). A probe that fails or takes longer counts as a failure.
import { httpGet } from './admin.js';
import { HOST } from '../../testkit/clients.js';
import { formatLatency, summarize } from './latency.js';
import type { Recorder } from './scenario.js';
import { delay } from '../../testkit/wait.js';

export const PROBE_TIMEOUT_MS = 1000;
const PROBE_INTERVAL_MS = 200;

export class Probes {
  private readonly timesMs: number[] = [];
  private readonly failures: string[] = [];
  private stopped = false;
  private readonly running: Promise<void>;

  constructor(adminPort: number) {
    this.running = this.loop(adminPort);
  }

  /** Stops probing and records the figure and the check (every probe answered within 1 s). */
  async stop(rec: Recorder): Promise<void> {
    this.stopped = true;
    await this.running;
    const summary = summarize(this.timesMs);
    rec.figure('probe answers (/healthz, /readyz) during the attack', formatLatency(summary));
    rec.check(
      `probes: every /healthz and /readyz answered 200 within ${PROBE_TIMEOUT_MS} ms`,
      this.failures.length === 0 && summary.count > 0,
      this.failures.length === 0
        ? `${summary.count} probes, slowest ${summary.maxMs.toFixed(1)} ms`
        : `${this.failures.length} failed: ${this.failures.slice(0, 3).join('; ')}`,
    );
  }

  private async loop(adminPort: number): Promise<void> {
    for (let i = 0; !this.stopped; i++) {
      const path = i % 2 === 0 ? '/healthz' : '/readyz';
      const start = performance.now();
      try {
        await httpGet(HOST, adminPort, path, PROBE_TIMEOUT_MS);
        this.timesMs.push(performance.now() - start);
      } catch (err) {
        this.failures.push(`${path}: ${err instanceof Error ? err.message : String(err)}`);
      }
      await delay(PROBE_INTERVAL_MS);
    }
  }
}
