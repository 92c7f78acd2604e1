/**
 * What node:util's strict parse would refuse, said in one line that names what to change, for
 * echod's own flags and for the tools' alike: an unknown flag (with the nearest one), a switch
 * given a value, a flag without its value (also when the next word is another flag: `--port
 * --check-config`). Tokenised by node:util itself, so `-c8`, `--size=64` and `--` mean what
 * they mean there.
 */
import { parseArgs } from 'node:util';
import { UsageError } from './errors.js';
import { nearestSpelling } from './spelling.js';

export type FlagParseOptions = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>;

/** Throws a UsageError for the first mistake in `args`; `argOf(name)` names a flag's value (`PORT`). */
export function checkFlagTokens(args: readonly string[], options: FlagParseOptions, argOf: (name: string) => string): void {
  const { tokens } = parseArgs({ args: [...args], strict: false, allowPositionals: true, tokens: true, options });
  const names = Object.keys(options);
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const spec = options[token.name];
    if (spec === undefined) {
      const near = nearestSpelling(token.name, names);
      throw new UsageError(`unknown option ${token.rawName}${near !== undefined ? ` (did you mean --${near}?)` : ''}`);
    }
    const shown = token.rawName.startsWith('--') ? token.rawName : `${token.rawName} (--${token.name})`;
    if (spec.type === 'boolean') {
      if (token.inlineValue === true) throw new UsageError(`${shown} takes no value: write it alone`);
      continue;
    }
    const usage = `${token.rawName} ${argOf(token.name)}`;
    if (token.value === undefined) throw new UsageError(`${shown} needs a value: ${usage}`);
    // node:util takes the next word as the value even when it starts with a dash, then refuses it as ambiguous.
    if (token.inlineValue !== true && token.value.startsWith('-') && token.value.length > 1) {
      const flag = token.value.startsWith('--') ? token.value.slice(2).split('=')[0] : undefined;
      const why =
        flag !== undefined && flag in options
          ? `${token.value} is a flag`
          : `for a value that starts with -, write --${token.name}=${token.value}`;
      throw new UsageError(`${shown} needs a value: ${usage} (${why})`);
    }
  }
}
