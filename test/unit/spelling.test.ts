// The "did you mean" rule shared by the server's flags and variables and the tools' flags.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { editDistance, nearestSpelling } from '../../src/core/spelling.js';

/** The same definition over the whole table (the module keeps two rows): every alignment, swaps of neighbours included. */
function slowDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number): number => d[i]?.[j] ?? 0;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = best;
    }
  return at(a.length, b.length);
}

describe('spelling', () => {
  it('counts insertions, deletions, substitutions and swaps of neighbours as one edit each', () => {
    assert.equal(editDistance('port', 'port'), 0);
    assert.equal(editDistance('prot', 'port'), 1, 'a swap');
    assert.equal(editDistance('conections', 'connections'), 1, 'a missing letter');
    assert.equal(editDistance('portt', 'port'), 1, 'an extra letter');
    assert.equal(editDistance('pert', 'port'), 1, 'a wrong letter');
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('host', 'port'), 2);
  });

  it('agrees with the textbook table on random words', () => {
    const word = fc.string({ unit: fc.constantFrom('a', 'b', 'c', '-'), maxLength: 8 });
    fc.assert(
      fc.property(word, word, (a, b) => editDistance(a, b) === slowDistance(a, b) && editDistance(a, b) === editDistance(b, a)),
      { seed: 20261208, numRuns: 2000 },
    );
  });

  it('suggests a word one edit away for a short word, two for a longer one, nothing further', () => {
    const flags = ['port', 'host', 'connections', 'tls-insecure', 'mode'];
    assert.equal(nearestSpelling('prot', flags), 'port');
    assert.equal(nearestSpelling('conections', flags), 'connections');
    assert.equal(nearestSpelling('tls-insecur', flags), 'tls-insecure');
    assert.equal(nearestSpelling('conectons', flags), 'connections', 'two edits in a long word');
    assert.equal(nearestSpelling('pt', flags), undefined, 'two edits in a short word');
    assert.equal(nearestSpelling('verbose', flags), undefined);
    assert.equal(nearestSpelling('ECHOD_PROT', ['ECHOD_PORT', 'ECHOD_HOST']), 'ECHOD_PORT');
  });
});
