// A small reader of Prometheus' text exposition format (version 0.0.4), enough for tests to
// ask "what is the value of this series?" of a real scrape. It is strict on purpose: a line
// it cannot read is an error, not something to skip.
//
// And the real thing, for the suites that check what Prometheus itself makes of echod (the
// Grafana dashboard's queries, the alert rules): a `prometheus` server of ours on 127.0.0.1,
// on a port it picks and logs, scraping the targets a test names, asked through its HTTP API;
// and `promtool`. Both are Debian's `prometheus` package (.ci/run installs it).
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from './admin-http.js';
import { HOST, WAIT_MS } from './clients.js';
import { OutputProcess } from './output-process.js';

export interface Sample {
  name: string;
  labels: Readonly<Record<string, string>>;
  value: number;
}

/** One scrape, parsed: every sample, and the `# TYPE` of every family that declared one. */
export class Scrape {
  readonly samples: readonly Sample[];
  readonly types: ReadonlyMap<string, string>;

  constructor(samples: readonly Sample[], types: ReadonlyMap<string, string>) {
    this.samples = samples;
    this.types = types;
  }

  /** The samples named `name`, whatever their labels. */
  all(name: string): Sample[] {
    return this.samples.filter((sample) => sample.name === name);
  }

  has(name: string): boolean {
    return this.samples.some((sample) => sample.name === name);
  }

  /**
   * The value of the one series with exactly this name and exactly these labels (no more, no
   * fewer). Throws when there is none or more than one, naming what was there instead.
   */
  value(name: string, labels: Readonly<Record<string, string>> = {}): number {
    const matches = this.all(name).filter((sample) => sameLabels(sample.labels, labels));
    if (matches.length !== 1) {
      const present = this.all(name).map((sample) => formatSeries(sample.name, sample.labels));
      throw new Error(
        `expected one series ${formatSeries(name, labels)}, found ${matches.length}; present: ${present.length > 0 ? present.join(', ') : 'none'}`,
      );
    }
    return (matches[0] as Sample).value;
  }
}

export function parsePrometheus(text: string): Scrape {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === '') continue;
    try {
      if (line.startsWith('#')) {
        const type = /^#\s*TYPE\s+(\S+)\s+(\S+)\s*$/.exec(line);
        if (type !== null) types.set(type[1] as string, type[2] as string);
        continue;
      }
      samples.push(parseSample(line));
    } catch (err) {
      throw new Error(`line ${i + 1} of the exposition: ${(err as Error).message}: ${JSON.stringify(line)}`, { cause: err });
    }
  }
  return new Scrape(samples, types);
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const ESCAPES: Readonly<Record<string, string>> = { '\\': '\\', '"': '"', n: '\n' };

function parseSample(line: string): Sample {
  const name = NAME.exec(line)?.[0];
  if (name === undefined) throw new Error('no metric name');
  let rest = line.slice(name.length);
  const labels: Record<string, string> = {};
  if (rest.startsWith('{')) {
    rest = rest.slice(1);
    for (;;) {
      rest = rest.trimStart();
      if (rest.startsWith('}')) {
        rest = rest.slice(1);
        break;
      }
      const labelName = LABEL_NAME.exec(rest)?.[0];
      if (labelName === undefined) throw new Error('bad label name');
      rest = rest.slice(labelName.length).trimStart();
      if (!rest.startsWith('="')) throw new Error(`label ${labelName} has no ="value"`);
      rest = rest.slice(2);
      let value = '';
      for (;;) {
        const ch = rest[0];
        if (ch === undefined) throw new Error(`label ${labelName}'s value is not terminated`);
        rest = rest.slice(1);
        if (ch === '"') break;
        if (ch === '\\') {
          const escaped = ESCAPES[rest[0] ?? ''];
          if (escaped === undefined) throw new Error(`bad escape in label ${labelName}`);
          value += escaped;
          rest = rest.slice(1);
        } else {
          value += ch;
        }
      }
      if (labelName in labels) throw new Error(`label ${labelName} given twice`);
      labels[labelName] = value;
      rest = rest.trimStart();
      if (rest.startsWith(',')) rest = rest.slice(1);
      else if (!rest.startsWith('}')) throw new Error('expected , or } after a label');
    }
  }
  // The value, then an optional timestamp.
  const fields = rest.trim().split(/\s+/);
  if (fields.length < 1 || fields.length > 2 || fields[0] === '') throw new Error('expected a value and an optional timestamp');
  return { name, labels, value: parseValue(fields[0] as string) };
}

/** As Prometheus reads values (Go's ParseFloat): NaN and Inf in any case, so prom-client's `Nan` too. */
function parseValue(text: string): number {
  const special = /^([+-]?)(inf|infinity|nan)$/i.exec(text);
  if (special !== null) return (special[2] as string).toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity;
  const value = Number(text);
  if (text === '' || Number.isNaN(value)) throw new Error(`bad value ${JSON.stringify(text)}`);
  return value;
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && a[key] === b[key]);
}

function formatSeries(name: string, labels: Readonly<Record<string, string>>): string {
  const pairs = Object.entries(labels).map(([key, value]) => `${key}=${JSON.stringify(value)}`);
  return pairs.length > 0 ? `${name}{${pairs.join(',')}}` : name;
}

// ---- A real Prometheus ---------------------------------------------------------------------------

/** The first of `names` that runs with `--version` (Debian installs both tools in /usr/bin). */
function findTool(names: readonly string[]): string | undefined {
  return names.find((name) => spawnSync(name, ['--version'], { timeout: WAIT_MS }).status === 0);
}

export const PROMETHEUS = findTool(['prometheus', '/usr/bin/prometheus']);
export const PROMTOOL = findTool(['promtool', '/usr/bin/promtool']);

/** A `skip` reason for suites that need the real tools, or false when both are there. */
export const NO_PROMETHEUS: string | false =
  PROMETHEUS !== undefined && PROMTOOL !== undefined
    ? false
    : 'prometheus/promtool are not installed: apt-get install prometheus, as .ci/run does';

/** Runs `promtool args` (bounded); returns what it printed and its exit status. */
export function promtool(args: readonly string[], cwd?: string): SpawnSyncReturns<string> {
  assert.ok(PROMTOOL !== undefined, 'promtool is installed');
  const result = spawnSync(PROMTOOL, args, { encoding: 'utf8', timeout: WAIT_MS * 6, ...(cwd === undefined ? {} : { cwd }) });
  if (result.error !== undefined) throw result.error;
  return result;
}

/** One series of a query's answer: its labels, and the value (NaN and ±Inf as numbers). */
export interface PromSeries {
  metric: Record<string, string>;
  value: number;
}

export interface PrometheusOptions {
  /** Scrape jobs: a name and the `host:port` targets whose /metrics it scrapes. */
  jobs: readonly { name: string; targets: readonly string[] }[];
  /** Rule files to load (absolute paths). */
  ruleFiles?: readonly string[];
  /** Scrape and rule evaluation interval. @default '1s' */
  interval?: string;
}

/** How long Prometheus may take to start (it opens a fresh TSDB): slower than any loopback wait. */
const PROMETHEUS_START_MS = 20_000;
/** How often `untilQuery` asks again: a new answer can only come with a scrape (1 s apart). */
const QUERY_POLL_MS = 100;

/**
 * A `prometheus` server of ours: its configuration and TSDB in a temporary folder, its web
 * endpoint on 127.0.0.1 at a port it chose (read from its own "Listening on" log line).
 */
export class PrometheusServer extends OutputProcess {
  readonly dir: string;
  port = 0;

  private constructor(dir: string, args: readonly string[]) {
    assert.ok(PROMETHEUS !== undefined, 'prometheus is installed');
    super('prometheus', PROMETHEUS, args, { cwd: dir });
    this.dir = dir;
  }

  /**
   * Starts Prometheus scraping `options.jobs` and resolves once it says it is ready. Pass
   * `track` to have it registered for cleanup before anything can fail.
   */
  static async start(options: PrometheusOptions, track: (prometheus: PrometheusServer) => void): Promise<PrometheusServer> {
    const dir = mkdtempSync(join(tmpdir(), 'echod-prometheus-'));
    const interval = options.interval ?? '1s';
    const config = {
      global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
      rule_files: options.ruleFiles ?? [],
      scrape_configs: options.jobs.map((job) => ({ job_name: job.name, static_configs: [{ targets: job.targets }] })),
    };
    // JSON is YAML: no YAML writer needed.
    writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config, null, 2));
    const prometheus = new PrometheusServer(dir, [
      '--config.file=prometheus.yml',
      '--storage.tsdb.path=data',
      `--web.listen-address=${HOST}:0`,
      '--log.level=info',
    ]);
    track(prometheus);
    const [, port] = await prometheus.match(/msg="Listening on" address=[\d.]+:(\d+)/, 'its listening address');
    prometheus.port = Number(port);
    await prometheus.match(/Server is ready to receive web requests/, 'ready');
    return prometheus;
  }

  /** The first match of `pattern` in the log, once it appears; fails early if Prometheus exits. */
  override match(pattern: RegExp, what: string, ms = PROMETHEUS_START_MS): Promise<RegExpExecArray> {
    return super.match(pattern, what, ms);
  }

  /** GET an API path; returns `data` of a `success` answer, or throws with Prometheus' error. */
  async api<T>(path: string): Promise<T> {
    const response = await request(this.port, path);
    const body = JSON.parse(response.body) as { status: string; data?: T; errorType?: string; error?: string };
    if (body.status !== 'success')
      throw new Error(`GET ${path}: ${response.status} ${body.errorType ?? ''}: ${body.error ?? response.body}`);
    return body.data as T;
  }

  /**
   * An instant query (at `time`, Unix seconds, or now). Throws when Prometheus rejects the
   * expression (a parse or evaluation error); returns a vector's series, or a scalar as one
   * series without labels.
   */
  async query(expr: string, time?: number): Promise<PromSeries[]> {
    const params = new URLSearchParams({ query: expr });
    if (time !== undefined) params.set('time', String(time));
    const data = await this.api<{ resultType: string; result: unknown }>(`/api/v1/query?${params.toString()}`);
    if (data.resultType === 'scalar') return [{ metric: {}, value: Number((data.result as [number, string])[1]) }];
    assert.equal(data.resultType, 'vector', `${expr} is an instant vector or a scalar`);
    return (data.result as { metric: Record<string, string>; value: [number, string] }[]).map((series) => ({
      metric: series.metric,
      value: Number(series.value[1]),
    }));
  }

  /** The values of `label` among the series `match` selects (as Grafana's label_values()). */
  labelValues(label: string, match: string): Promise<string[]> {
    return this.api<string[]>(`/api/v1/label/${encodeURIComponent(label)}/values?${new URLSearchParams({ 'match[]': match }).toString()}`);
  }

  /**
   * Asks `expr` until `condition` holds for its answer (no event says a scrape happened, so it
   * is polled, with a deadline); returns that answer.
   */
  async untilQuery(expr: string, condition: (series: PromSeries[]) => boolean, what: string, ms = WAIT_MS * 3): Promise<PromSeries[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const answer = await this.query(expr);
      if (condition(answer)) return answer;
      assert.ok(Date.now() < deadline, `timed out after ${ms} ms waiting for ${what}; ${expr} is ${JSON.stringify(answer)}`);
      assert.ok(!this.exited, `prometheus exited: ${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, QUERY_POLL_MS));
    }
  }

  /** SIGTERM to our PID (SIGKILL if it lingers), then removes its folder. Safe to repeat. */
  override async stop(): Promise<void> {
    await super.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
