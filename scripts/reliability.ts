// `npm run reliability`: runs every adversarial scenario against a spawned echod (see
// scripts/reliability/) and rewrites docs/reliability.md with the figures. Exit code 1 if
// any scenario fails. `--only a,b` runs just those (and leaves the document alone).
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ROOT } from '../testkit/echod-process.js';
import { SCENARIOS, type ScenarioResult } from './reliability/index.js';
import { describeMachine, renderReport } from './reliability/report.js';

const DOC = `${ROOT}docs/reliability.md`;

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { only: { type: 'string' }, out: { type: 'string' } } });
  const only = values.only?.split(',').map((id) => id.trim());
  const unknown = only?.filter((id) => !SCENARIOS.some((scenario) => scenario.id === id)) ?? [];
  if (unknown.length > 0) {
    process.stderr.write(`unknown scenario: ${unknown.join(', ')} (known: ${SCENARIOS.map((s) => s.id).join(', ')})\n`);
    return 2;
  }
  const chosen = only === undefined ? SCENARIOS : SCENARIOS.filter((scenario) => only.includes(scenario.id));
  const results: ScenarioResult[] = [];
  const start = performance.now();
  for (const scenario of chosen) {
    process.stdout.write(`${scenario.id} … `);
    const result = await scenario.run();
    results.push(result);
    process.stdout.write(`${result.pass ? 'pass' : 'FAIL'} (${(result.durationMs / 1000).toFixed(1)} s)\n`);
    for (const check of result.checks.filter((c) => !c.ok)) {
      process.stdout.write(
        `    ✗ ${check.name}: ${check.detail.split('\n')[0] ?? ''}${check.knownBug !== undefined ? ' [known src bug]' : ''}\n`,
      );
    }
  }
  const totalMs = performance.now() - start;
  const out = values.out ?? (only === undefined ? DOC : null);
  if (out !== null) {
    writeFileSync(out, renderReport(results, describeMachine(), totalMs));
    process.stdout.write(`wrote ${out}\n`);
  }
  return results.every((result) => result.pass) ? 0 : 1;
}

process.exitCode = await main();
