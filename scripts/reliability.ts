// `npm run reliability`: runs every adversarial scenario against a spawned echod (see
// scripts/reliability/) and rewrites docs/reliability.md with the figures. Exit code 1 if
// any scenario fails. `--only a,b` runs just those, prints each one's section (its figures
// and table of checks) and leaves the document alone.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ROOT } from '../testkit/echod-process.js';
import { SCENARIOS, type ScenarioResult } from './reliability/index.js';
import { describeMachine, renderReport, renderScenario } from './reliability/report.js';

const DOC = `${ROOT}docs/reliability.md`;

async function main(): Promise<number> {
  let values: { only?: string; out?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ options: { only: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (err) {
    process.stderr.write(`reliability: ${(err as Error).message}\nTry 'npm run reliability -- --help' for the flags.\n`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(
      [
        'npm run reliability -- [flags]: every adversarial scenario against a spawned echod; rewrites docs/reliability.md; exit 1 if any fails.',
        '',
        "  --only IDS   only these scenarios (comma-separated), each one's figures and checks printed; the document is left alone",
        '  --out FILE   write the report there instead',
        '  -h, --help   show this help',
        '',
        `Scenarios: ${SCENARIOS.map((scenario) => scenario.id).join(', ')}`,
      ].join('\n') + '\n',
    );
    return 0;
  }
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
    if (only !== undefined) {
      // The document is left alone: this is where the figures of the scenarios asked for are read.
      process.stdout.write(`${renderScenario(result).join('\n')}\n\n`);
      continue;
    }
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
