// `npm run soak -- --duration 10m`: mixed load on echod for a bounded time, every echo
// verified, with echod's memory, heap, open fds, active connections and error counts sampled
// every few seconds. Fails (exit 1) on any wrong echo or error, if memory, heap or fds trend
// upward after warm-up (median of the last quarter of the post-warm-up samples above the
// median of the first quarter by more than a tolerance), or if connections or fds are not
// given back once the load stops. Writes soak-<timestamp>.csv and .svg into --out.
// Its flags are SOAK_FLAGS below (`npm run soak -- --help` prints them).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileErrorReason } from '../src/core/errors.js';
import { parseDurationMs } from '../src/core/units.js';
import { getMetrics, getStats, type Metrics, type ServerStats } from './reliability/admin.js';
import { describeExit } from '../testkit/echod-process.js';
import { ScenarioEchod } from './reliability/echod.js';
import { MIB, mib } from './reliability/latency.js';
import { fdCount, rssBytes } from './reliability/proc.js';
import { delay, poll, SCRAPE_POLL_MS, within } from '../testkit/wait.js';
import { renderChart } from './soak/chart.js';
import { startLoad, Tally } from './soak/load.js';
import { type Sample, toCsv, type Trend, trendOf } from './soak/series.js';

const MAX_DURATION_MS = 24 * 3600 * 1000;
const STOP_TIMEOUT_MS = 30_000;
const SETTLE_MS = 15_000;
const MIN_JUDGED_SAMPLES = 8;
/** The admin endpoint not answering this many samples in a row ends the soak early (and fails it). */
const MAX_CONSECUTIVE_SCRAPE_FAILURES = 5;
/** Trend tolerances: how far the last quarter's median may sit above the first's. */
const TOLERANCE = {
  rss: { absolute: 8 * MIB, relative: 0.1 },
  heap: { absolute: 4 * MIB, relative: 0.1 },
  fds: { absolute: 10, relative: 0.1 },
} as const;

class UsageError extends Error {}

interface Endpoint {
  host: string;
  port: number;
}

function endpoint(flag: string, text: string): Endpoint {
  const match = /^(.+):(\d+)$/.exec(text);
  const port = Number(match?.[2]);
  if (match === null || !Number.isInteger(port) || port < 1 || port > 65_535)
    throw new UsageError(`${flag}: expected host:port, got ${JSON.stringify(text)}`);
  return { host: (match[1] as string).replace(/^\[(.*)\]$/, '$1'), port };
}

function duration(flag: string, text: string): number {
  const ms = parseDurationMs(text);
  if (ms === undefined || ms <= 0 || ms > MAX_DURATION_MS)
    throw new UsageError(`${flag}: expected a duration such as 30s, 10m or 1h (at most 24h), got ${JSON.stringify(text)}`);
  return ms;
}

/** The soak's flags, each taking a value: parsing and --help both read this table. */
const SOAK_FLAGS: readonly { name: string; arg: string; help: string; default?: string }[] = [
  { name: 'duration', arg: 'D', help: 'how long the load runs: 30s, 10m, 1h (at most 24h)', default: '2m' },
  { name: 'target', arg: 'H:P', help: 'soak a running echod instead of spawning one (needs --admin)' },
  { name: 'admin', arg: 'H:P', help: 'its admin endpoint (/stats, /metrics)' },
  { name: 'out', arg: 'DIR', help: 'where the CSV and SVG go', default: './soak-out' },
  { name: 'interval', arg: 'D', help: 'sample period (default: duration/60, between 1s and 5s)' },
  { name: 'warmup', arg: 'D', help: 'samples before this are not judged (default: 20% of the duration)' },
  { name: 'seed', arg: 'N', help: 'seed of the random payloads', default: '1' },
];

function helpText(): string {
  const lefts = SOAK_FLAGS.map((flag) => `  --${flag.name} ${flag.arg}`);
  const width = Math.max(...lefts.map((left) => left.length)) + 2;
  return [
    'npm run soak -- [flags]: mixed load on echod for a bounded time, every echo verified, memory, heap and fds',
    'sampled; exit 1 on a wrong echo, an error, an upward trend, or connections and fds not given back.',
    '',
    ...SOAK_FLAGS.map(
      (flag, index) =>
        `${(lefts[index] as string).padEnd(width)}${flag.help}${flag.default !== undefined ? ` [default: ${flag.default}]` : ''}`,
    ),
    `${'  -h, --help'.padEnd(width)}show this help`,
  ].join('\n');
}

interface Options {
  durationMs: number;
  intervalMs: number;
  warmupMs: number;
  target: Endpoint | null;
  admin: Endpoint | null;
  out: string;
  seed: number;
}

/** The options, or 'help' for --help; throws UsageError. */
function parseOptions(argv: string[]): Options | 'help' {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        help: { type: 'boolean', short: 'h' },
        ...Object.fromEntries(
          SOAK_FLAGS.map(
            (flag) => [flag.name, { type: 'string', ...(flag.default !== undefined ? { default: flag.default } : {}) }] as const,
          ),
        ),
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (parsed.values.help === true) return 'help';
  const values = parsed.values as Record<string, string | undefined>;
  const durationMs = duration('--duration', values.duration as string);
  const target = values.target === undefined ? null : endpoint('--target', values.target);
  const admin = values.admin === undefined ? null : endpoint('--admin', values.admin);
  if (target !== null && admin === null) throw new UsageError('--target needs --admin (memory, heap and fds are read from its /metrics)');
  const intervalMs =
    values.interval !== undefined ? duration('--interval', values.interval) : Math.min(5000, Math.max(1000, Math.round(durationMs / 60)));
  const warmupMs = values.warmup !== undefined ? duration('--warmup', values.warmup) : Math.round(durationMs * 0.2);
  if (warmupMs >= durationMs) throw new UsageError('--warmup must be shorter than --duration');
  const seed = Number(values.seed);
  if (!Number.isInteger(seed)) throw new UsageError('--seed: expected an integer');
  const out = resolve(values.out as string);
  try {
    // Made now: an --out that cannot be written fails here, not after the whole soak has run.
    mkdirSync(out, { recursive: true });
  } catch (err) {
    throw new UsageError(`--out ${out}: ${fileErrorReason(err)}`);
  }
  return { durationMs, intervalMs, warmupMs, target, admin, out, seed };
}

function serverErrors(stats: ServerStats): number {
  return stats.connections.closed.error + stats.internalErrors;
}

async function main(): Promise<number> {
  let options: Options;
  try {
    const parsed = parseOptions(process.argv.slice(2));
    if (parsed === 'help') {
      process.stdout.write(`${helpText()}\n`);
      return 0;
    }
    options = parsed;
  } catch (err) {
    process.stderr.write(`soak: ${(err as Error).message}\nTry 'npm run soak -- --help' for the flags.\n`);
    return 2;
  }
  const spawned = options.target === null ? await ScenarioEchod.start([]) : null;
  try {
    const port = spawned?.port ?? (options.target as Endpoint).port;
    const admin = spawned !== null ? { host: '127.0.0.1', port: spawned.adminPort } : (options.admin as Endpoint);
    const pid = spawned?.pid ?? null;
    const target = options.target ?? { host: '127.0.0.1', port };
    const readFds = async (): Promise<number> =>
      pid !== null ? fdCount(pid) : (await getMetrics(admin.host, admin.port)).sum('process_open_fds');
    const startStats = await getStats(admin.host, admin.port);
    const fdsAtStart = await readFds();
    const errorsAtStart = serverErrors(startStats);
    process.stdout.write(
      `soak: ${spawned !== null ? `spawned echod pid ${spawned.pid} on port ${port}` : `echod at ${target.host}:${port}`}; ` +
        `${options.durationMs / 1000} s of load, a sample every ${options.intervalMs / 1000} s, warm-up ${options.warmupMs / 1000} s\n`,
    );

    const tally = new Tally();
    const loaders = await startLoad(target, tally, options.seed);
    const samples: Sample[] = [];
    const scrapeFailures: string[] = [];
    let consecutiveScrapeFailures = 0;
    const start = performance.now();
    for (let i = 1; ; i++) {
      const at = start + i * options.intervalMs;
      if (at > start + options.durationMs + 1) break;
      await delay(at - performance.now());
      let stats: ServerStats;
      let metrics: Metrics;
      try {
        [stats, metrics] = await Promise.all([getStats(admin.host, admin.port), getMetrics(admin.host, admin.port)]);
        consecutiveScrapeFailures = 0;
      } catch (err) {
        // A scrape that fails is a finding (the admin endpoint must answer under load), not a crash.
        scrapeFailures.push(`${((performance.now() - start) / 1000).toFixed(0)} s: ${(err as Error).message}`);
        process.stdout.write(
          `  ${((performance.now() - start) / 1000).toFixed(0)} s: admin endpoint did not answer: ${(err as Error).message}\n`,
        );
        if (++consecutiveScrapeFailures >= MAX_CONSECUTIVE_SCRAPE_FAILURES) break;
        continue;
      }
      const sample: Sample = {
        t: (performance.now() - start) / 1000,
        rssBytes: pid !== null ? rssBytes(pid) : metrics.sum('process_resident_memory_bytes'),
        heapUsedBytes: metrics.sum('nodejs_heap_size_used_bytes'),
        openFds: pid !== null ? fdCount(pid) : metrics.sum('process_open_fds'),
        activeConnections: stats.connections.active,
        echoes: tally.echoes,
        bytesVerified: tally.bytesVerified,
        wrongEchoes: tally.wrongEchoes,
        clientErrors: tally.clientErrors,
        serverErrors: serverErrors(stats) - errorsAtStart,
      };
      samples.push(sample);
      if (i % Math.max(1, Math.round(10_000 / options.intervalMs)) === 0) {
        process.stdout.write(
          `  ${sample.t.toFixed(0)} s: rss ${mib(sample.rssBytes)}, heap ${mib(sample.heapUsedBytes)}, fds ${sample.openFds}, active ${sample.activeConnections}, ` +
            `${sample.echoes} echoes verified, ${sample.wrongEchoes} wrong, ${sample.clientErrors} client errors, ${sample.serverErrors} server errors\n`,
        );
      }
    }

    process.stdout.write('soak: stopping the load\n');
    await within(Promise.all(loaders.map((loader) => loader.stop())), STOP_TIMEOUT_MS, 'the load to stop');
    const failures: string[] = [];
    // Everything given back: connections and descriptors return to where they were.
    let active = -1;
    let fds = -1;
    await poll(
      async () => (active = (await getStats(admin.host, admin.port)).connections.active) <= startStats.connections.active,
      SETTLE_MS,
      'connections',
      SCRAPE_POLL_MS,
    ).catch(() => undefined);
    await poll(async () => (fds = await readFds()) <= fdsAtStart, SETTLE_MS, 'fds', SCRAPE_POLL_MS).catch(() => undefined);
    if (active > startStats.connections.active)
      failures.push(`active connections ${active} after the load (was ${startStats.connections.active})`);
    if (fds > fdsAtStart) failures.push(`open fds ${fds} after the load (was ${fdsAtStart})`);
    const endStats = await getStats(admin.host, admin.port);
    if (spawned !== null) {
      const exit = await spawned.terminate();
      if (exit.code !== 0 || exit.killed) failures.push(`echod did not exit 0 on SIGTERM (${exit.killed ? 'killed' : describeExit(exit)})`);
    }

    // The verdict.
    if (scrapeFailures.length > 0)
      failures.push(`the admin endpoint did not answer ${scrapeFailures.length} times (first: ${scrapeFailures[0]})`);
    if (tally.wrongEchoes > 0) failures.push(`${tally.wrongEchoes} wrong echoes`);
    if (tally.clientErrors > 0) failures.push(`${tally.clientErrors} client errors (timeouts or disconnects)`);
    if (serverErrors(endStats) - errorsAtStart > 0)
      failures.push(`${serverErrors(endStats) - errorsAtStart} server errors (closes with reason error, internal errors)`);
    const judged = samples.filter((sample) => sample.t * 1000 >= options.warmupMs);
    let trends: Trend[] = [];
    if (judged.length < MIN_JUDGED_SAMPLES) {
      failures.push(`only ${judged.length} samples after warm-up (need ${MIN_JUDGED_SAMPLES}): run longer or sample more often`);
    } else {
      trends = [
        trendOf('rss', judged, (s) => s.rssBytes, TOLERANCE.rss.absolute, TOLERANCE.rss.relative),
        trendOf('heap used', judged, (s) => s.heapUsedBytes, TOLERANCE.heap.absolute, TOLERANCE.heap.relative),
        trendOf('open fds', judged, (s) => s.openFds, TOLERANCE.fds.absolute, TOLERANCE.fds.relative),
      ];
      for (const trend of trends.filter((t) => t.upward)) failures.push(`${trend.series} trends upward after warm-up`);
    }

    // The record.
    const stamp = new Date()
      .toISOString()
      .replace(/\.\d+Z$/, 'Z')
      .replaceAll(':', '-');
    mkdirSync(options.out, { recursive: true });
    const csvPath = join(options.out, `soak-${stamp}.csv`);
    const svgPath = join(options.out, `soak-${stamp}.svg`);
    writeFileSync(csvPath, toCsv(samples));
    const trendOfSeries = (name: string): { trend?: Trend } => {
      const trend = trends.find((t) => t.series === name);
      return trend === undefined ? {} : { trend };
    };
    writeFileSync(
      svgPath,
      renderChart(
        `echod soak ${stamp}: ${options.durationMs / 1000} s, ${failures.length === 0 ? 'pass' : 'FAIL'}`,
        samples,
        options.warmupMs / 1000,
        [
          { title: 'resident memory', pick: (s) => s.rssBytes, unit: MIB, unitLabel: 'MiB', ...trendOfSeries('rss') },
          { title: 'V8 heap used', pick: (s) => s.heapUsedBytes, unit: MIB, unitLabel: 'MiB', ...trendOfSeries('heap used') },
          { title: 'open fds', pick: (s) => s.openFds, unit: 1, unitLabel: 'count', ...trendOfSeries('open fds') },
          { title: 'active connections', pick: (s) => s.activeConnections, unit: 1, unitLabel: 'count' },
          {
            title: 'errors (wrong echoes + client + server)',
            pick: (s) => s.wrongEchoes + s.clientErrors + s.serverErrors,
            unit: 1,
            unitLabel: 'count',
          },
        ],
      ),
    );

    const last = samples[samples.length - 1];
    process.stdout.write(`soak: ${tally.echoes} echoes verified (${mib(tally.bytesVerified)}); pingpong latency ${tally.latencyText()}\n`);
    if (last !== undefined)
      process.stdout.write(
        `soak: ${samples.length} samples; last: rss ${mib(last.rssBytes)}, heap ${mib(last.heapUsedBytes)}, fds ${last.openFds}, active ${last.activeConnections}\n`,
      );
    for (const trend of trends) {
      const scale = trend.series === 'open fds' ? 1 : MIB;
      const unit = trend.series === 'open fds' ? '' : ' MiB';
      process.stdout.write(
        `soak: ${trend.series}: first-quarter median ${(trend.firstMedian / scale).toFixed(1)}${unit}, last-quarter median ${(trend.lastMedian / scale).toFixed(1)}${unit} ` +
          `(tolerance +${(trend.tolerance / scale).toFixed(1)}${unit}), slope ${(trend.slopePerMinute / scale).toFixed(2)}${unit}/min: ${trend.upward ? 'UPWARD' : 'flat'}\n`,
      );
    }
    process.stdout.write(
      `soak: after the load: ${active} active connections (were ${startStats.connections.active}), ${fds} fds (were ${fdsAtStart})\n`,
    );
    for (const sample of tally.errorSamples) process.stdout.write(`soak: error: ${sample}\n`);
    process.stdout.write(`soak: wrote ${csvPath} and ${svgPath}\n`);
    process.stdout.write(failures.length === 0 ? 'soak: PASS\n' : `soak: FAIL: ${failures.join('; ')}\n`);
    return failures.length === 0 ? 0 : 1;
  } finally {
    spawned?.kill();
  }
}

process.exitCode = await main().catch((err: unknown) => {
  process.stderr.write(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 1;
});
