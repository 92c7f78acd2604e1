// The alert rules (deploy/prometheus/echod-rules.yaml), checked with the real tools: promtool
// accepts them and their unit tests (echod-rules.test.yaml) pass, each alert firing and staying
// silent where it should; the Prometheus Operator's copy (the servicemonitor component's
// PrometheusRule) is generated from the same file; every alert has its runbook section; and a
// real Prometheus, scraping a live echod pushed into the conditions, evaluates every rule without
// error and puts the matching alerts into their pending state.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { Client, HOST } from '../../testkit/clients.js';
import { type EchodProcess, reporting, startEchod } from '../../testkit/echod-process.js';
import { NO_PROMETHEUS, type PromSeries, PrometheusServer, promtool } from '../../testkit/prometheus.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RULES_DIR = join(ROOT, 'deploy', 'prometheus');
const RULES = join(RULES_DIR, 'echod-rules.yaml');
const RULE_TESTS = join(RULES_DIR, 'echod-rules.test.yaml');
const PROMETHEUS_RULE = join(ROOT, 'deploy', 'kubernetes', 'components', 'servicemonitor', 'prometheusrule.yaml');
const RUNBOOK = join(ROOT, 'docs', 'runbook.md');
const LIVE_TIMEOUT_MS = 90_000;

/** What issue 17 asks the rules to catch, by the alert that does. */
const REQUIRED_ALERTS: Readonly<Record<string, string>> = {
  EchodDown: 'target down',
  EchodConnectionsNearLimit: 'connections near --max-connections',
  EchodRefusalsRising: 'refusals rising',
  EchodWriteStallsRising: 'write stalls rising',
  EchodInternalErrors: 'internal errors above zero',
  EchodWorkerRestarted: 'worker restarts',
  EchodLogLinesDropped: 'log lines dropped',
  EchodTLSHandshakeFailuresRising: 'TLS handshake failures rising',
  EchodNotReady: 'readiness off outside a drain',
};

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface RuleGroups {
  groups: { name: string; rules: Rule[] }[];
}

interface RuleTests {
  rule_files: string[];
  tests: { name: string; alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
}

const rules = parse(readFileSync(RULES, 'utf8')) as RuleGroups;
const alerts = rules.groups.flatMap((group) => group.rules).filter((rule): rule is Rule & { alert: string } => rule.alert !== undefined);

describe('alert rules: the file', () => {
  it('has an alert for everything issue 17 lists, each with a severity, a summary and a runbook section in docs/runbook.md', () => {
    assert.deepEqual(alerts.map((rule) => rule.alert).sort(), Object.keys(REQUIRED_ALERTS).sort());
    const runbook = readFileSync(RUNBOOK, 'utf8');
    const headings = new Set([...runbook.matchAll(/^## (\S+)\s*$/gm)].map((m) => m[1] as string));
    for (const rule of alerts) {
      assert.ok(['critical', 'warning'].includes(rule.labels?.severity ?? ''), `${rule.alert} has a severity`);
      assert.ok(
        (rule.annotations?.summary ?? '') !== '' && (rule.annotations?.description ?? '') !== '',
        `${rule.alert} has a summary and a description`,
      );
      // GitHub's anchor for "## EchodDown" is #echoddown.
      assert.equal(rule.annotations?.runbook_url, `docs/runbook.md#${rule.alert.toLowerCase()}`, `${rule.alert}'s runbook_url`);
      assert.ok(headings.has(rule.alert), `docs/runbook.md has a section "## ${rule.alert}" (${REQUIRED_ALERTS[rule.alert]})`);
    }
  });

  it("the servicemonitor component's PrometheusRule is generated from it (prometheusrule.sh) and holds the same groups", () => {
    const generated = spawnSync('sh', [join(RULES_DIR, 'prometheusrule.sh')], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(generated.status, 0, generated.stderr);
    assert.equal(
      readFileSync(PROMETHEUS_RULE, 'utf8'),
      generated.stdout,
      'prometheusrule.yaml is out of date: run deploy/prometheus/prometheusrule.sh > deploy/kubernetes/components/servicemonitor/prometheusrule.yaml',
    );
    const object = parse(generated.stdout) as { apiVersion: string; kind: string; metadata: { name: string }; spec: RuleGroups };
    assert.equal(object.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(object.kind, 'PrometheusRule');
    assert.deepEqual(object.spec, { groups: rules.groups }, 'spec is exactly the rule file');
    const component = parse(readFileSync(join(PROMETHEUS_RULE, '..', 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    assert.ok(component.resources.includes('prometheusrule.yaml'), 'the servicemonitor component lists it');
  });

  it('every alert has a unit test where it fires and one where it stays silent', () => {
    const tests = parse(readFileSync(RULE_TESTS, 'utf8')) as RuleTests;
    assert.deepEqual(tests.rule_files, ['echod-rules.yaml']);
    const cases = tests.tests.flatMap((test) => test.alert_rule_test ?? []);
    for (const rule of alerts) {
      const mine = cases.filter((c) => c.alertname === rule.alert);
      assert.ok(
        mine.some((c) => c.exp_alerts.length > 0),
        `${rule.alert} is shown firing`,
      );
      assert.ok(
        mine.some((c) => c.exp_alerts.length === 0),
        `${rule.alert} is shown silent`,
      );
    }
  });
});

describe('alert rules: promtool and a real Prometheus', { skip: NO_PROMETHEUS }, () => {
  it('promtool check rules accepts the file', () => {
    const result = promtool(['check', 'rules', RULES]);
    assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
    assert.match(result.stdout, new RegExp(`SUCCESS: ${alerts.length} rules found`));
  });

  it('promtool test rules: every unit test passes', () => {
    const result = promtool(['test', 'rules', 'echod-rules.test.yaml'], RULES_DIR);
    assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
    assert.match(result.stdout, /SUCCESS/);
  });

  describe('against a live echod', () => {
    const echods: EchodProcess[] = [];
    const prometheuses: PrometheusServer[] = [];
    const clients: Client[] = [];
    after(async () => {
      for (const client of clients) client.destroy();
      await Promise.all([...echods.map((echod) => echod.stop()), ...prometheuses.map((prometheus) => prometheus.stop())]);
    });

    /** The alerts in `state` now (the ALERTS series Prometheus writes as it evaluates). */
    const inState = (answer: PromSeries[], state: string): string[] =>
      answer.filter((series) => series.metric.alertstate === state).map((series) => series.metric.alertname as string);

    it(
      'evaluates every rule without error, and the conditions echod is pushed into make their alerts pending',
      { timeout: LIVE_TIMEOUT_MS },
      reporting(echods, async () => {
        const { echod, port, adminPort } = await startEchod(
          'node',
          [
            '--listen',
            `tcp://${HOST}:0`,
            '--listen',
            `tls://${HOST}:0`,
            '--tls-self-signed',
            '--admin-port',
            '0',
            '--max-connections',
            '2',
            '--shutdown-delay',
            '60s',
            '--server-id',
            'alerts-lab',
          ],
          (started) => echods.push(started),
        );
        await echod.until(() => echod.all('listening').length === 2, 'both listening lines');
        const tlsPort = echod.all('listening').find((line) => String(line.listener).startsWith('tls://'))?.port as number;
        const prometheus = await PrometheusServer.start(
          { jobs: [{ name: 'echod', targets: [`${HOST}:${String(adminPort)}`] }], ruleFiles: [RULES] },
          (p) => prometheuses.push(p),
        );
        const sel = '{job="echod", server_id="alerts-lab"}';
        // Two scrapes before any trouble, so that rates have a baseline.
        await prometheus.untilQuery(`count_over_time(echod_ready${sel}[1m])`, (a) => (a[0]?.value ?? 0) >= 2, 'two scrapes of echod');

        // 30 failed TLS handshakes (plain text to the TLS port): 0.1/s over the 5 minute window.
        for (let i = 0; i < 30; i++) {
          const client = await Client.connect(tlsPort);
          clients.push(client);
          await client.write('not a TLS client hello\n');
          await client.waitClosed();
        }
        // --max-connections 2: two held, the third refused.
        for (let i = 0; i < 2; i++) {
          const client = await Client.connect(port);
          clients.push(client);
          await client.write(`held ${i}\n`);
          assert.equal(await client.readText(`held ${i}\n`), `held ${i}\n`);
        }
        const refused = await Client.connect(port);
        clients.push(refused);
        await refused.waitClosed();

        const expected = ['EchodConnectionsNearLimit', 'EchodRefusalsRising', 'EchodTLSHandshakeFailuresRising'];
        const pending = await prometheus.untilQuery(
          'ALERTS',
          (a) => expected.every((name) => inState(a, 'pending').includes(name)),
          `${expected.join(', ')} pending`,
        );
        assert.deepEqual(
          [...new Set(pending.map((series) => series.metric.alertname))].sort(),
          expected,
          'and nothing else is pending or firing',
        );
        const refusals = pending.filter((s) => s.metric.alertname === 'EchodRefusalsRising');
        assert.deepEqual(
          refusals.map((s) => [s.metric.reason, s.metric.listener]),
          [['max_connections', undefined]],
          'one alert per reason, summed over the listeners (each listener shows every reason)',
        );
        assert.equal(pending.find((s) => s.metric.alertname === 'EchodConnectionsNearLimit')?.metric.server_id, 'alerts-lab');

        // A drain turns readiness off; held much longer than a drain, that is EchodNotReady.
        echod.signal('SIGTERM');
        await echod.log((line) => line.msg.startsWith('signal received, draining'), 'the drain to begin');
        await prometheus.untilQuery(
          'ALERTS{alertname="EchodNotReady"}',
          (a) => inState(a, 'pending').length === 1,
          'EchodNotReady pending',
        );

        // Every rule has been evaluated on real series without an error.
        const groups = await prometheus.api<{
          groups: { rules: { name: string; health: string; lastError?: string; lastEvaluation: string }[] }[];
        }>('/api/v1/rules');
        const evaluated = groups.groups.flatMap((group) => group.rules);
        assert.deepEqual(evaluated.map((rule) => rule.name).sort(), alerts.map((rule) => rule.alert).sort());
        for (const rule of evaluated) assert.equal(rule.health, 'ok', `${rule.name}: ${rule.lastError ?? ''}`);

        // The process gone: the target is down.
        await echod.stop();
        await prometheus.untilQuery('ALERTS{alertname="EchodDown"}', (a) => inState(a, 'pending').length === 1, 'EchodDown pending');
      }),
    );
  });
});
