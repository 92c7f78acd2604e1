// The Grafana dashboard (deploy/grafana/echod-dashboard.json): its shape is what Grafana 10
// imports (a data source variable, job and server_id variables, the rows issue 17 asks for), and
// every PromQL expression in it, read from the JSON and with the dashboard's variables filled in,
// is asked of a real Prometheus scraping a live echod that was given known traffic: each parses,
// and returns the series its panel expects.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { CLOSE_REASONS } from '../../src/core/stats.js';
import { Client, HOST } from '../../testkit/clients.js';
import { type EchodProcess, startEchod } from '../../testkit/echod-process.js';
import { NO_PROMETHEUS, type PromSeries, PrometheusServer } from '../../testkit/prometheus.js';
import { UdpClient } from '../../testkit/udp-client.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DASHBOARD = join(ROOT, 'deploy', 'grafana', 'echod-dashboard.json');
const SETUP_TIMEOUT_MS = 60_000;

interface Target {
  refId: string;
  expr: string;
  legendFormat?: string;
  datasource?: { type: string; uid: string };
}

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Target[];
}

interface Variable {
  type: string;
  name: string;
  query: string | { query: string };
  datasource?: { type: string; uid: string };
}

interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const rows = dashboard.panels.filter((panel) => panel.type === 'row');
const panels = dashboard.panels.filter((panel) => panel.type !== 'row');

/** The live echod's identity, and what the dashboard's variables are set to. */
const SERVER_ID = 'grafana-lab';
const JOB = 'echod';
/** Grafana's built-in interval variables, as Grafana would set them for a short range and 1 s scrapes. */
const VARIABLES: Readonly<Record<string, string>> = { job: JOB, server_id: SERVER_ID, __rate_interval: '1m', __range: '5m' };

/** `expr` with the dashboard's variables filled in (`$name` and `${name}`); fails on an unknown one. */
function substitute(expr: string): string {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare) as string;
    const value = VARIABLES[name];
    assert.ok(value !== undefined, `unknown variable $${name} in ${expr}`);
    return value;
  });
}

/** The label names a legend shows (`{{reason}}`): every series must have them. */
function legendLabels(target: Target): string[] {
  return [...(target.legendFormat ?? '').matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1] as string);
}

// The known traffic (see `before` below), and what each panel must show for it. One entry per
// panel title; the expressions themselves come only from the JSON.
const LINES = ['one\n', 'two\n', 'three\n'];
const TLS_FAILURES = 2;
const UDP_SENT = 4;
const MAX_CONNECTIONS = 3;

type Answers = Record<string, PromSeries[]>;
const one = (answers: Answers, refId: string): number => {
  const series = answers[refId] ?? [];
  assert.equal(series.length, 1, `${refId}: one series, got ${JSON.stringify(series)}`);
  return (series[0] as PromSeries).value;
};
const byLabel = (answers: Answers, refId: string, label: string): Record<string, number> =>
  Object.fromEntries((answers[refId] ?? []).map((series) => [series.metric[label] as string, series.value]));
/** A per-listener answer by the listener's scheme (`tcp`, `tls`): the live echod has one of each stream kind. */
const byScheme = (answers: Answers, refId: string): Record<string, number> =>
  Object.fromEntries((answers[refId] ?? []).map((series) => [String(series.metric.listener).replace(/:\/\/.*/, ''), series.value]));
const positive = (value: number, what: string): void => assert.ok(Number.isFinite(value) && value > 0, `${what} > 0, got ${value}`);
const zero = (value: number, what: string): void => assert.equal(value, 0, what);
const finite = (value: number, what: string): void =>
  assert.ok(Number.isFinite(value) && value >= 0, `${what} is a finite value ≥ 0, got ${value}`);

const EXPECT: Readonly<Record<string, (answers: Answers) => void>> = {
  'Targets down': (a) =>
    assert.deepEqual(
      a.A?.map((s) => [s.metric.job, s.value]),
      [[JOB, 0]],
    ),
  Ready: (a) => assert.equal(one(a, 'A'), 1),
  Version: (a) => {
    assert.equal(one(a, 'A'), 1);
    assert.equal(a.A?.[0]?.metric.mode, 'line');
    assert.equal(a.A?.[0]?.metric.version, (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  },
  'Open connections': (a) => assert.equal(one(a, 'A'), MAX_CONNECTIONS),
  'Internal errors in range': (a) => zero(one(a, 'A'), 'internal errors'),
  'Log lines dropped in range': (a) => zero(one(a, 'A'), 'log lines dropped'),
  'Bytes per second': (a) => {
    positive(one(a, 'A'), 'bytes in');
    positive(one(a, 'B'), 'bytes out');
  },
  'Lines per second': (a) => positive(one(a, 'A'), 'lines'),
  'New connections per second': (a) => positive(one(a, 'A'), 'connections'),
  'Connection duration': (a) => {
    finite(one(a, 'A'), 'p50');
    finite(one(a, 'B'), 'p99');
  },
  'Connection duration p99 by listener': (a) => {
    const p99 = byScheme(a, 'A');
    assert.deepEqual(Object.keys(p99).sort(), ['tcp', 'tls'], 'one line per stream listener, none for udp');
    finite(p99.tcp ?? -1, 'tcp p99');
    finite(p99.tls ?? -1, 'tls p99');
  },
  'Bytes in range': (a) => {
    positive(one(a, 'A'), 'bytes in');
    positive(one(a, 'B'), 'bytes out');
    assert.ok(one(a, 'A') > one(a, 'B'), 'more bytes in than out: the over-long line was not echoed');
  },
  'Open connections and --max-connections': (a) => {
    assert.equal(one(a, 'A'), MAX_CONNECTIONS);
    assert.equal(one(a, 'B'), MAX_CONNECTIONS);
  },
  'Use of --max-connections': (a) => assert.equal(one(a, 'A'), 1),
  'Closes per second by reason': (a) => {
    const reasons = byLabel(a, 'A', 'reason');
    assert.deepEqual(Object.keys(reasons).sort(), [...CLOSE_REASONS].sort(), 'every reason, from start-up');
    positive(reasons.client_closed ?? 0, 'client_closed');
    positive(reasons.line_too_long ?? 0, 'line_too_long');
    zero(reasons.write_stalled ?? -1, 'write_stalled');
  },
  'Closes by reason in range': (a) => {
    const reasons = byLabel(a, 'A', 'reason');
    positive(reasons.client_closed ?? 0, 'client_closed');
    positive(reasons.line_too_long ?? 0, 'line_too_long');
    zero(reasons.reset ?? -1, 'reset');
    assert.ok(['client_closed', 'line_too_long'].includes(a.A?.[0]?.metric.reason ?? ''), 'sorted, largest first');
  },
  'Forced closes per second': (a) => {
    const forced = byScheme(a, 'A');
    assert.deepEqual(Object.keys(forced).sort(), ['tcp', 'tls'], 'every stream listener, from start-up');
    for (const [scheme, value] of Object.entries(forced)) zero(value, `forced on ${scheme}`);
  },
  'Refusals per second by reason': (a) => {
    const reasons = byLabel(a, 'A', 'reason');
    assert.ok(!('tls_error' in reasons), 'TLS failures are in their own row');
    positive(reasons.max_connections ?? 0, 'max_connections');
    zero(reasons.proxy_protocol_error ?? -1, 'proxy_protocol_error');
  },
  'Refusals per second by listener': (a) => {
    const refusals = byScheme(a, 'A');
    positive(refusals.tcp ?? 0, 'refusals on tcp, where the limit was hit');
    zero(refusals.tls ?? -1, 'refusals on tls (its handshake failures are in their own row)');
  },
  'Refusals by reason in range': (a) => {
    const reasons = byLabel(a, 'A', 'reason');
    assert.ok(!('tls_error' in reasons));
    positive(reasons.max_connections ?? 0, 'max_connections');
    assert.equal(a.A?.[0]?.metric.reason, 'max_connections', 'sorted, largest first');
  },
  'TLS handshake failures per second': (a) => positive(one(a, 'A'), 'tls_error'),
  'TLS handshake failures in range': (a) => assert.ok(one(a, 'A') >= TLS_FAILURES, `at least ${TLS_FAILURES}`),
  'TLS handshakes per second by listener': (a) => {
    const versions = Object.fromEntries((a.A ?? []).map((series) => [`${series.metric.listener} ${series.metric.version}`, series.value]));
    assert.equal(Object.keys(versions).length, 2, `the tls listener's two versions only: ${JSON.stringify(versions)}`);
    assert.ok(
      (a.A ?? []).every((series) => String(series.metric.listener).startsWith('tls://')),
      'tls listeners only',
    );
    positive(a.A?.find((series) => series.metric.version === 'TLSv1.3')?.value ?? 0, 'TLSv1.3 handshakes');
  },
  'TLS handshake duration p99 by listener': (a) => finite(one(a, 'A'), 'handshake p99'),
  'Datagrams per second': (a) => {
    positive(one(a, 'A'), 'received');
    positive(one(a, 'B'), 'echoed');
  },
  'Datagrams dropped per second by reason': (a) => {
    const reasons = byLabel(a, 'A', 'reason');
    positive(reasons.rate_limited ?? 0, 'rate_limited');
    zero(reasons.reflection_port ?? -1, 'reflection_port');
  },
  'UDP bytes per second': (a) => {
    positive(one(a, 'A'), 'UDP bytes in');
    positive(one(a, 'B'), 'UDP bytes out');
  },
  'Restarts in range': (a) => {
    zero(one(a, 'A'), 'process restarts');
    zero(one(a, 'B'), 'CPU time resets');
  },
  'Readiness (minimum over workers)': (a) => assert.equal(one(a, 'A'), 1),
  'Worst event-loop lag': (a) => finite(one(a, 'A'), 'lag'),
  CPU: (a) => positive(one(a, 'A'), 'CPU'),
  Memory: (a) => {
    positive(one(a, 'A'), 'RSS');
    positive(one(a, 'B'), 'heap used');
  },
  'Open file descriptors': (a) => {
    positive(one(a, 'A'), 'open fds');
    assert.ok(one(a, 'B') > one(a, 'A'), 'the limit is above the open count');
  },
  'Event-loop lag p99': (a) => finite(one(a, 'A'), 'lag p99'),
  'Garbage collection time per second': (a) => {
    assert.ok((a.A ?? []).length > 0, 'at least one kind of collection');
    for (const series of a.A ?? []) finite(series.value, `gc ${series.metric.kind}`);
  },
  'Log lines dropped per second': (a) => zero(one(a, 'A'), 'log lines dropped'),
};

describe('Grafana dashboard: the file', () => {
  it('is a Grafana 10 dashboard with a data source variable, job and server_id variables, and every panel on ${datasource}', () => {
    assert.equal(dashboard.uid, 'echod');
    assert.ok(dashboard.schemaVersion >= 36, 'schemaVersion of Grafana 9/10');
    const variables = dashboard.templating.list;
    assert.deepEqual(
      variables.map((v) => v.name),
      ['datasource', 'job', 'server_id'],
    );
    assert.deepEqual([variables[0]?.type, variables[0]?.query], ['datasource', 'prometheus']);
    const ids = dashboard.panels.map((panel) => panel.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    for (const panel of dashboard.panels) {
      assert.ok(panel.gridPos.x >= 0 && panel.gridPos.x + panel.gridPos.w <= 24, `${panel.title} fits the 24-column grid`);
    }
    for (const panel of panels) {
      assert.deepEqual(panel.datasource, { type: 'prometheus', uid: '${datasource}' }, `${panel.title}'s data source`);
      assert.ok((panel.targets ?? []).length > 0, `${panel.title} has queries`);
      for (const target of panel.targets ?? []) assert.deepEqual(target.datasource, panel.datasource);
    }
    for (const variable of variables.slice(1)) assert.deepEqual(variable.datasource, { type: 'prometheus', uid: '${datasource}' });
  });

  it('has the rows issue 17 asks for', () => {
    const titles = rows.map((row) => row.title);
    for (const title of [
      'Traffic',
      'Connections vs limit',
      'Close reasons',
      'Refusals',
      'TLS',
      'UDP',
      'Workers',
      'Process resources',
      'Logging',
    ]) {
      assert.ok(titles.includes(title), `a row "${title}" (rows: ${titles.join(', ')})`);
    }
  });

  it('every panel has its expectation in this test, and every expectation its panel', () => {
    assert.deepEqual(panels.map((panel) => panel.title).sort(), Object.keys(EXPECT).sort());
  });

  it('the Kustomize component generates the sidecar ConfigMap from this one file', () => {
    const generator = parse(readFileSync(join(ROOT, 'deploy', 'grafana', 'kustomization.yaml'), 'utf8')) as {
      kind: string;
      configMapGenerator: { name: string; files: string[]; options: { labels: Record<string, string>; disableNameSuffixHash: boolean } }[];
    };
    assert.equal(generator.kind, 'Component');
    assert.deepEqual(generator.configMapGenerator[0]?.files, ['echod-dashboard.json']);
    assert.equal(generator.configMapGenerator[0]?.options.labels.grafana_dashboard, '1');
    const component = parse(
      readFileSync(join(ROOT, 'deploy', 'kubernetes', 'components', 'grafana-dashboard', 'kustomization.yaml'), 'utf8'),
    ) as { kind: string; components: string[] };
    assert.equal(component.kind, 'Component');
    assert.deepEqual(component.components, ['../../../grafana']);
  });
});

describe('Grafana dashboard: every query against a real Prometheus scraping a live echod', { skip: NO_PROMETHEUS }, () => {
  const echods: EchodProcess[] = [];
  const prometheuses: PrometheusServer[] = [];
  const clients: Client[] = [];
  let udp: UdpClient | undefined;
  let prometheus: PrometheusServer;
  /** The evaluation time of every query: once Prometheus has scraped all the traffic. */
  let at = 0;

  before(
    async () => {
      const { echod, port, adminPort } = await startEchod(
        'node',
        [
          '--listen',
          `tcp://${HOST}:0`,
          '--listen',
          `tls://${HOST}:0`,
          '--listen',
          `udp://${HOST}:0`,
          '--tls-self-signed',
          '--admin-port',
          '0',
          '--server-id',
          SERVER_ID,
          '--max-connections',
          String(MAX_CONNECTIONS),
          '--max-line-bytes',
          '64',
          '--udp-rate-per-source',
          '2',
        ],
        (started) => echods.push(started),
      );
      await echod.until(() => echod.all('listening').length === 3, 'three listening lines');
      const listenerPort = (scheme: string): number =>
        echod.all('listening').find((line) => String(line.listener).startsWith(scheme))?.port as number;
      prometheus = await PrometheusServer.start({ jobs: [{ name: JOB, targets: [`${HOST}:${String(adminPort)}`] }] }, (p) =>
        prometheuses.push(p),
      );
      const sel = `{job="${JOB}", server_id="${SERVER_ID}"}`;
      await prometheus.untilQuery(
        `count_over_time(echod_ready${sel}[1m])`,
        (a) => (a[0]?.value ?? 0) >= 2,
        'two scrapes before the traffic',
      );

      // Lines echoed, then a normal close.
      const lines = await Client.connect(port);
      clients.push(lines);
      for (const line of LINES) {
        await lines.write(line);
        assert.equal(await lines.readText(line), line);
      }
      lines.end();
      await lines.waitClosed();
      // A line over --max-line-bytes: line_too_long.
      const long = await Client.connect(port);
      clients.push(long);
      await long.write(`${'x'.repeat(100)}\n`);
      await long.waitClosed();
      // A TLS client served, then failed TLS handshakes.
      const secure = await Client.tls(listenerPort('tls://'));
      clients.push(secure);
      await secure.write(LINES[0] as string);
      assert.equal(await secure.readText(LINES[0] as string), LINES[0]);
      secure.end();
      await secure.waitClosed();
      for (let i = 0; i < TLS_FAILURES; i++) {
        const plain = await Client.connect(listenerPort('tls://'));
        clients.push(plain);
        await plain.write('not a TLS client hello\n');
        await plain.waitClosed();
      }
      // Datagrams, more than --udp-rate-per-source 2 lets through in one second.
      udp = await UdpClient.bind(HOST);
      for (let i = 0; i < UDP_SENT; i++) await udp.send(Buffer.from(`datagram ${i}`), listenerPort('udp://'), HOST);
      await udp.replies(1);
      // The limit reached: MAX_CONNECTIONS held open, one more refused.
      for (let i = 0; i < MAX_CONNECTIONS; i++) {
        const held = await Client.connect(port);
        clients.push(held);
        await held.write('held\n');
        await held.readText('held\n');
      }
      const refused = await Client.connect(port);
      clients.push(refused);
      await refused.waitClosed();

      // Wait until Prometheus has scraped all of it; query everything at that moment.
      const expected: [string, number][] = [
        // Per-listener series (tcp and tls here): summed without the label, the server's totals.
        [`sum without (listener) (echod_lines_total${sel})`, LINES.length + 1 + MAX_CONNECTIONS],
        [`sum without (listener) (echod_connections_active${sel})`, MAX_CONNECTIONS],
        [`sum without (listener) (echod_connections_rejected_total{job="${JOB}", server_id="${SERVER_ID}", reason="max_connections"})`, 1],
        [
          `sum without (listener) (echod_connections_rejected_total{job="${JOB}", server_id="${SERVER_ID}", reason="tls_error"})`,
          TLS_FAILURES,
        ],
        [`sum without (listener, version) (echod_tls_handshakes_total${sel})`, 1],
        [`sum without (listener) (echod_connections_closed_total{job="${JOB}", server_id="${SERVER_ID}", reason="line_too_long"})`, 1],
        [`sum without (listener) (echod_udp_datagrams_received_total${sel})`, UDP_SENT],
      ];
      for (const [expr, value] of expected) await prometheus.untilQuery(expr, (a) => a[0]?.value === value, `${expr} = ${value}`);
      at = Date.now() / 1000;
    },
    { timeout: SETUP_TIMEOUT_MS },
  );

  after(async () => {
    for (const client of clients) client.destroy();
    await udp?.close();
    await Promise.all([...echods.map((echod) => echod.stop()), ...prometheuses.map((p) => p.stop())]);
  });

  it("the variables' queries find the live server (label_values, as Grafana asks them)", async () => {
    for (const variable of dashboard.templating.list.filter((v) => v.type === 'query')) {
      const query = typeof variable.query === 'string' ? variable.query : variable.query.query;
      const match = /^label_values\((.+),\s*(\w+)\)$/.exec(substitute(query));
      assert.ok(match !== null, `${variable.name}: label_values(selector, label): ${query}`);
      const values = await prometheus.labelValues(match[2] as string, match[1] as string);
      assert.deepEqual(values, [{ job: JOB, server_id: SERVER_ID }[variable.name]], `$${variable.name}`);
    }
  });

  for (const panel of panels) {
    it(`${panel.title}: every query parses and returns the expected series`, async () => {
      const answers: Answers = {};
      for (const target of panel.targets ?? []) {
        const expr = substitute(target.expr);
        let answer: PromSeries[];
        try {
          answer = await prometheus.query(expr, at);
        } catch (err) {
          throw new Error(`${panel.title} ${target.refId}: Prometheus rejects ${expr}: ${(err as Error).message}`, { cause: err });
        }
        assert.ok(answer.length > 0, `${panel.title} ${target.refId}: ${expr} returns series`);
        for (const series of answer) {
          for (const label of legendLabels(target))
            assert.ok(
              series.metric[label] !== undefined,
              `${panel.title} ${target.refId}: every series has the legend's label ${label}: ${JSON.stringify(series.metric)}`,
            );
          if (series.metric.server_id !== undefined) assert.equal(series.metric.server_id, SERVER_ID);
        }
        answers[target.refId] = answer;
      }
      const expect = EXPECT[panel.title];
      assert.ok(expect !== undefined, `an expectation for ${panel.title}`);
      expect(answers);
    });
  }
});
