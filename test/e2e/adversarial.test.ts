// Adversarial clients against a spawned echod (the real binary, as a child process): a client
// that never reads, an endless line, slowloris, a connection flood, a reset storm, odd but
// honest clients, and SIGTERM under load. Each scenario lives in scripts/reliability/ (also run
// by `npm run reliability`, which writes docs/reliability.md); here each must hold to its
// bounds. Checks that expose a known src bug are reported as todo until the fix lands.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SCENARIOS, type ScenarioResult } from '../../scripts/reliability/index.js';
import { BOUNDS } from '../../scripts/reliability/scenario.js';

describe('adversarial clients (spawned echod, loopback)', () => {
  for (const scenario of SCENARIOS) {
    describe(scenario.id, () => {
      let result: ScenarioResult | undefined;

      it('holds to its bounds', { timeout: scenario.timeoutMs }, async (t) => {
        result = await scenario.run();
        for (const [label, value] of result.figures) t.diagnostic(`${label}: ${value}`);
        const failed = result.checks.filter((check) => !check.ok && check.knownBug === undefined);
        assert.deepEqual(
          failed.map((check) => `${check.name}: ${check.detail}`),
          [],
          `${scenario.id}: checks failed`,
        );
        const { memory, fds, bystanders, linesLost } = result;
        const memoryBug = result.checks.some((check) => check.name.startsWith('memory growth (peak') && check.knownBug !== undefined);
        if (memory !== null && !memoryBug)
          assert.ok(memory.peakBytes - memory.beforeBytes < BOUNDS.memoryGrowthBytes, 'memory growth under the bound');
        if (fds !== null && fds.after !== null) assert.ok(fds.after <= fds.before, 'fds back to the baseline');
        if (bystanders !== null) {
          assert.equal(bystanders.errors, 0, 'bystanders: no errors');
          assert.ok(bystanders.during.p99Ms <= bystanders.bounds.p99Ms, `bystanders: p99 ${bystanders.during.p99Ms} ms`);
          assert.ok(bystanders.during.maxMs <= bystanders.bounds.maxMs, `bystanders: max ${bystanders.during.maxMs} ms`);
        }
        if (linesLost !== null) assert.equal(linesLost, 0, 'lines lost');
      });

      for (const { title, bug } of scenario.knownBugs) {
        it(`src bug: ${title}`, { todo: bug }, () => {
          assert.ok(result !== undefined, 'the scenario ran');
          const checks = result.checks.filter((c) => c.knownBug === bug);
          assert.ok(checks.length > 0, 'the checks ran');
          assert.deepEqual(
            checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`),
            [],
          );
        });
      }
    });
  }
});
