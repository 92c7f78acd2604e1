// echod's admin endpoint as the scenarios and the soak read it: /stats as JSON and /metrics
// in Prometheus' text format (only as much of the format as a sample line needs).
import { request } from 'node:http';
import type { ServerStats } from '../../src/core/stats.js';
import { within } from '../../testkit/wait.js';

export type { ServerStats };

const ADMIN_TIMEOUT_MS = 5000;

/** One GET on a fresh connection; resolves to the body, rejects on a non-200 answer or timeout. */
export function httpGet(host: string, port: number, path: string, ms = ADMIN_TIMEOUT_MS): Promise<string> {
  let abort = (): void => {};
  const body = new Promise<string>((resolve, reject) => {
    const req = request({ host, port, path, method: 'GET', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode === 200) resolve(text);
        else reject(new Error(`GET ${path}: HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
      });
    });
    abort = () => req.destroy();
    req.on('error', reject);
    req.end();
  });
  return within(body, ms, `GET ${path} on ${host}:${port}`).finally(abort);
}

export async function getStats(host: string, port: number): Promise<ServerStats> {
  return JSON.parse(await httpGet(host, port, '/stats')) as ServerStats;
}

interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * The samples of one /metrics answer. A query names a metric and some labels; every series
 * that has at least those labels matches (echod may add its own, such as `server_id`), and
 * the matches are summed (`sum()`, as PromQL's sum) or the largest taken (`max()`).
 */
export class Metrics {
  private readonly series: Series[] = [];

  constructor(text: string) {
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
      if (match === null) continue;
      this.series.push({ name: match[1] as string, labels: parseLabels(match[2] ?? ''), value: Number(match[3]) });
    }
  }

  /** The sum over the matching series, or NaN when none matches. */
  sum(name: string, labels: Readonly<Record<string, string>> = {}): number {
    const values = this.matching(name, labels);
    return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0);
  }

  /** The largest of the matching series, or NaN when none matches. */
  max(name: string, labels: Readonly<Record<string, string>> = {}): number {
    const values = this.matching(name, labels);
    return values.length === 0 ? Number.NaN : Math.max(...values);
  }

  private matching(name: string, labels: Readonly<Record<string, string>>): number[] {
    return this.series
      .filter((series) => series.name === name && Object.entries(labels).every(([key, value]) => series.labels[key] === value))
      .map((series) => series.value);
  }
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const match of text.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[match[1] as string] = match[2] as string;
  return labels;
}

export async function getMetrics(host: string, port: number): Promise<Metrics> {
  return new Metrics(await httpGet(host, port, '/metrics'));
}
