/**
 * The tools' flags: one table per command, from which parsing and `--help` are both derived,
 * so they cannot disagree (the same idea as `src/cli/flags.ts`, which serves the server). Tool flags
 * have no environment variables: `ECHOD_MODE` configures the server, and a load generator that
 * silently picked it up would test something other than what its command line says.
 */
import { parseArgs } from 'node:util';
import { UsageError } from '../core/errors.js';
import { checkFlagTokens } from '../core/flag-tokens.js';
import { parseBytes, parseDurationMs } from '../core/units.js';

/** How a flag's text becomes a value. */
export type ToolKind =
  | 'boolean'
  | 'string'
  | 'size'
  /** A duration (`500ms`, `2s`, `1m`); a bare number is seconds, as in wrk and the brief's `--idle 2`. */
  | 'seconds'
  /** Messages per second: `1000`, `1000/s`, `20k/s`. */
  | 'rate'
  | { integer: { min: number; max: number } }
  | { oneOf: readonly string[] };

export interface ToolFlagSpec {
  /** The long flag without dashes. */
  name: string;
  short?: string;
  kind: ToolKind;
  /** Placeholder in `--help`, e.g. `SIZE`; empty for booleans. */
  arg: string;
  description: string;
  /** Default as shown in `--help`; undefined for flags that are off unless given. */
  shown?: string;
}

export type ToolValue = string | number | boolean;

export interface ParsedToolArgs {
  help: boolean;
  /** Flag name → typed value, for the flags given. */
  values: Map<string, ToolValue>;
  positionals: string[];
}

export function parseToolArgs(flags: readonly ToolFlagSpec[], argv: readonly string[]): ParsedToolArgs {
  const options = {
    help: { type: 'boolean', short: 'h' },
    ...Object.fromEntries(
      flags.map(
        (flag) =>
          [
            flag.name,
            { type: flag.kind === 'boolean' ? 'boolean' : 'string', ...(flag.short !== undefined ? { short: flag.short } : {}) },
          ] as const,
      ),
    ),
  } as const;
  const byName = new Map(flags.map((flag) => [flag.name, flag]));
  checkFlagTokens(argv, options, (name) => byName.get(name)?.arg ?? 'VALUE');
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], strict: true, allowPositionals: true, options });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const values = new Map<string, ToolValue>();
  for (const flag of flags) {
    const given = parsed.values[flag.name];
    if (given !== undefined) values.set(flag.name, convert(flag, given));
  }
  return { help: parsed.values.help === true, values, positionals: parsed.positionals };
}

const RATE_RE = /^(\d+(?:\.\d+)?)\s*(k|m)?\s*(?:\/\s*s)?$/i;

function convert(flag: ToolFlagSpec, raw: string | boolean | (string | boolean)[]): ToolValue {
  if (Array.isArray(raw)) throw new UsageError(`--${flag.name} given more than once`);
  if (typeof raw === 'boolean') return raw;
  const text = raw;
  const kind = flag.kind;
  const bad = (expected: string): never => {
    throw new UsageError(`invalid --${flag.name}: ${JSON.stringify(text)} (expected ${expected})`);
  };
  if (kind === 'string' || kind === 'boolean') return text;
  if (kind === 'size') return parseBytes(text) ?? bad('a size such as 64, 1500, 64KiB or 1MiB');
  if (kind === 'seconds') {
    if (/^\d+(?:\.\d+)?$/.test(text.trim())) return Math.round(Number(text) * 1000);
    return parseDurationMs(text) ?? bad('a duration such as 2 (seconds), 500ms, 10s or 1m');
  }
  if (kind === 'rate') {
    const match = RATE_RE.exec(text.trim());
    if (match === null) return bad('messages per second, such as 1000, 5000/s or 20k/s');
    const factor = match[2] === undefined ? 1 : match[2].toLowerCase() === 'k' ? 1000 : 1_000_000;
    const rate = Number(match[1]) * factor;
    return rate > 0 ? rate : bad('a rate above 0');
  }
  if ('integer' in kind) {
    const { min, max } = kind.integer;
    const value = Number(text);
    return /^\d+$/.test(text) && value >= min && value <= max ? value : bad(`a whole number from ${min} to ${max}`);
  }
  return kind.oneOf.includes(text) ? text : bad(kind.oneOf.join(' or '));
}

/** Help is laid out for a terminal this wide. */
const HELP_WIDTH = 100;
const FLAG_COLUMN = 32;

/** The `Flags:` rows of a tool's help, each flag's description (wrapped) and default. */
export function flagRows(flags: readonly ToolFlagSpec[]): string[] {
  return flags.map((flag) => {
    const short = flag.short !== undefined ? `-${flag.short}, ` : '    ';
    const left = `  ${short}--${flag.name}${flag.arg !== '' ? ` ${flag.arg}` : ''}`;
    const right = wrap(`${flag.description}${flag.shown !== undefined ? ` [default: ${flag.shown}]` : ''}`, HELP_WIDTH - FLAG_COLUMN);
    const pad = ' '.repeat(FLAG_COLUMN);
    const first = left.length >= FLAG_COLUMN ? `${left}\n${pad}` : left.padEnd(FLAG_COLUMN);
    return `${first}${right.join(`\n${pad}`)}`;
  });
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

export const HELP_ROW = `${'  -h, --help'.padEnd(32)}show this help`;
