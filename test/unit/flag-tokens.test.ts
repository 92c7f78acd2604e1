// The one check of a command line's flags, shared by echod and its tools: each mistake is one
// line that names what to change.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/core/errors.js';
import { checkFlagTokens, type FlagParseOptions } from '../../src/core/flag-tokens.js';

const OPTIONS: FlagParseOptions = {
  help: { type: 'boolean', short: 'h' },
  port: { type: 'string' },
  connections: { type: 'string', short: 'c' },
  'ws-deflate': { type: 'boolean' },
};
const ARGS: Readonly<Record<string, string>> = { port: 'PORT', connections: 'N' };

function refusal(args: readonly string[]): string {
  try {
    checkFlagTokens(args, OPTIONS, (name) => ARGS[name] ?? 'VALUE');
  } catch (err) {
    assert.ok(err instanceof UsageError);
    return err.message;
  }
  return '';
}

describe('checkFlagTokens', () => {
  it('accepts what node:util accepts', () => {
    for (const args of [['--port', '80'], ['--port=80'], ['-c8'], ['-c', '8'], ['--ws-deflate'], ['--', '--anything'], ['host:80', '-h']])
      assert.equal(refusal(args), '', args.join(' '));
  });

  it('an unknown flag, with the nearest one', () => {
    assert.equal(refusal(['--prot', '80']), 'unknown option --prot (did you mean --port?)');
    assert.equal(refusal(['--conections', '3']), 'unknown option --conections (did you mean --connections?)');
    assert.equal(refusal(['--verbose']), 'unknown option --verbose');
  });

  it('a switch given a value', () => {
    assert.equal(refusal(['--ws-deflate=yes']), '--ws-deflate takes no value: write it alone');
  });

  it('a flag without its value: at the end, before another flag, or before a word starting with a dash', () => {
    assert.equal(refusal(['--port']), '--port needs a value: --port PORT');
    assert.equal(refusal(['--port', '--ws-deflate']), '--port needs a value: --port PORT (--ws-deflate is a flag)');
    assert.equal(refusal(['-c', '--port', '80']), '-c (--connections) needs a value: -c N (--port is a flag)');
    assert.equal(refusal(['--port', '-5']), '--port needs a value: --port PORT (for a value that starts with -, write --port=-5)');
  });
});
