// The load scripts' own command lines: `npm run soak -- --help` and `npm run reliability --
// --help` print their flags (they were refused as unknown options), a bad flag exits 2 saying
// where the help is, and `--only` prints each scenario's section exactly as the document has it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { SCENARIOS } from '../../scripts/reliability/index.js';
import { type Machine, renderReport, renderScenario } from '../../scripts/reliability/report.js';
import type { ScenarioResult } from '../../scripts/reliability/scenario.js';
import { ROOT } from '../../testkit/echod-process.js';

const TEST_TIMEOUT_MS = 20_000;

/** Runs a script to its exit (each exits on its own: --help and bad flags start nothing). */
function script(file: string, args: readonly string[]): { code: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, ['--import', 'tsx', `scripts/${file}`, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: TEST_TIMEOUT_MS,
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('the soak and reliability scripts', () => {
  it('soak --help lists its flags and exits 0; an unknown flag exits 2 pointing at --help', { timeout: TEST_TIMEOUT_MS }, () => {
    for (const flag of ['--help', '-h']) {
      const help = script('soak.ts', [flag]);
      assert.equal(help.code, 0, help.stderr);
      for (const name of ['--duration D', '--target H:P', '--admin H:P', '--out DIR', '--interval D', '--warmup D', '--seed N'])
        assert.ok(help.stdout.includes(`  ${name}  `), `${name} in:\n${help.stdout}`);
    }
    const bad = script('soak.ts', ['--bogus']);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, "soak: Unknown option '--bogus'\nTry 'npm run soak -- --help' for the flags.\n");
    const out = script('soak.ts', ['--out', '/dev/null/soak']);
    assert.equal(out.code, 2);
    assert.match(out.stderr, /^soak: --out \/dev\/null\/soak: a part of the path is not a directory\n/);
  });

  it('reliability --help lists every scenario; an unknown flag exits 2', { timeout: TEST_TIMEOUT_MS }, () => {
    const help = script('reliability.ts', ['--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.ok(help.stdout.includes(`Scenarios: ${SCENARIOS.map((scenario) => scenario.id).join(', ')}\n`), help.stdout);
    const bad = script('reliability.ts', ['--bogus']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Try 'npm run reliability -- --help'/);
  });

  it('what --only prints of a scenario is its section of the document', () => {
    const result: ScenarioResult = {
      id: 'demo',
      title: '1. A demo',
      load: '1 client',
      flags: ['--idle-timeout 3s'],
      memory: { beforeBytes: 1 << 20, peakBytes: 2 << 20, afterBytes: 1 << 20 },
      fds: { before: 10, after: 10 },
      bystanders: null,
      linesLost: 0,
      lossNote: null,
      figures: [['a figure', '42']],
      checks: [
        { name: 'holds', ok: true, detail: '1 (expected 1)' },
        { name: 'breaks', ok: false, detail: '2 (expected 1)' },
      ],
      pass: false,
      durationMs: 1500,
    };
    const section = renderScenario(result);
    assert.ok(section.includes('| holds | ok | 1 (expected 1) |'), section.join('\n'));
    assert.ok(section.includes('| breaks | **FAIL** | 2 (expected 1) |'), section.join('\n'));
    const machine: Machine = { date: 'd', node: 'n', cpu: 'c', memory: 'm', kernel: 'k', openFiles: 'o', echod: 'e' };
    const report = renderReport([result], machine, 1500);
    assert.ok(report.includes(`\n## Each scenario\n\n${section.join('\n')}\n\n## Reproduce`), report);
  });

  it("docs/reliability.md's Reproduce section is the one the generator writes", () => {
    const machine: Machine = { date: 'd', node: 'n', cpu: 'c', memory: 'm', kernel: 'k', openFiles: 'o', echod: 'e' };
    const reproduce = (text: string): string => text.slice(text.indexOf('## Reproduce'));
    assert.equal(reproduce(readFileSync(`${ROOT}docs/reliability.md`, 'utf8')), reproduce(renderReport([], machine, 0)));
  });
});
