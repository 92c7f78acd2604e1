// The lists users read in the docs, checked against the one table each comes from: a reason
// added to the code and not to the docs (or left in the docs after it is gone) fails here.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CLOSE_REASONS, REJECT_REASONS } from '../../src/core/stats.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const METRICS = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');

/** The first column of the markdown table whose header row starts with `| header |`. */
function tableKeys(text: string, header: string): string[] {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.startsWith(`| ${header} |`));
  assert.ok(start >= 0, `a table headed "${header}"`);
  const keys: string[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const cell = /^\| `([^`]+)` \|/.exec(line);
    assert.ok(cell !== null, `a first cell in backquotes: ${line}`);
    keys.push(cell[1] as string);
  }
  return keys;
}

describe('the docs list what the code has', () => {
  it("README's close-reason table has every CLOSE_REASON, in the code's order, and nothing else", () => {
    assert.deepEqual(tableKeys(README, 'reason'), [...CLOSE_REASONS]);
  });

  it('docs/metrics.md names every close and reject reason on the series that carry them', () => {
    const row = (name: string): string => METRICS.split('\n').find((line) => line.startsWith(`| \`${name}\``)) ?? '';
    for (const reason of CLOSE_REASONS) assert.match(row('echod_connections_closed_total'), new RegExp(`\`${reason}\``), reason);
    for (const reason of REJECT_REASONS) assert.match(row('echod_connections_rejected_total'), new RegExp(`\`${reason}\``), reason);
  });
});
