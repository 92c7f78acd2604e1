// A small reader of Prometheus' text exposition format (version 0.0.4), enough for tests to
// ask "what is the value of this series?" of a real scrape. It is strict on purpose: a line
// it cannot read is an error, not something to skip.

export interface Sample {
  name: string;
  labels: Readonly<Record<string, string>>;
  value: number;
}

/** One scrape, parsed: every sample, and the `# TYPE` of every family that declared one. */
export class Scrape {
  readonly samples: readonly Sample[];
  readonly types: ReadonlyMap<string, string>;

  constructor(samples: readonly Sample[], types: ReadonlyMap<string, string>) {
    this.samples = samples;
    this.types = types;
  }

  /** The samples named `name`, whatever their labels. */
  all(name: string): Sample[] {
    return this.samples.filter((sample) => sample.name === name);
  }

  has(name: string): boolean {
    return this.samples.some((sample) => sample.name === name);
  }

  /**
   * The value of the one series with exactly this name and exactly these labels (no more, no
   * fewer). Throws when there is none or more than one, naming what was there instead.
   */
  value(name: string, labels: Readonly<Record<string, string>> = {}): number {
    const matches = this.all(name).filter((sample) => sameLabels(sample.labels, labels));
    if (matches.length !== 1) {
      const present = this.all(name).map((sample) => formatSeries(sample.name, sample.labels));
      throw new Error(
        `expected one series ${formatSeries(name, labels)}, found ${matches.length}; present: ${present.length > 0 ? present.join(', ') : 'none'}`,
      );
    }
    return (matches[0] as Sample).value;
  }
}

export function parsePrometheus(text: string): Scrape {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === '') continue;
    try {
      if (line.startsWith('#')) {
        const type = /^#\s*TYPE\s+(\S+)\s+(\S+)\s*$/.exec(line);
        if (type !== null) types.set(type[1] as string, type[2] as string);
        continue;
      }
      samples.push(parseSample(line));
    } catch (err) {
      throw new Error(`line ${i + 1} of the exposition: ${(err as Error).message}: ${JSON.stringify(line)}`, { cause: err });
    }
  }
  return new Scrape(samples, types);
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const ESCAPES: Readonly<Record<string, string>> = { '\\': '\\', '"': '"', n: '\n' };

function parseSample(line: string): Sample {
  const name = NAME.exec(line)?.[0];
  if (name === undefined) throw new Error('no metric name');
  let rest = line.slice(name.length);
  const labels: Record<string, string> = {};
  if (rest.startsWith('{')) {
    rest = rest.slice(1);
    for (;;) {
      rest = rest.trimStart();
      if (rest.startsWith('}')) {
        rest = rest.slice(1);
        break;
      }
      const labelName = LABEL_NAME.exec(rest)?.[0];
      if (labelName === undefined) throw new Error('bad label name');
      rest = rest.slice(labelName.length).trimStart();
      if (!rest.startsWith('="')) throw new Error(`label ${labelName} has no ="value"`);
      rest = rest.slice(2);
      let value = '';
      for (;;) {
        const ch = rest[0];
        if (ch === undefined) throw new Error(`label ${labelName}'s value is not terminated`);
        rest = rest.slice(1);
        if (ch === '"') break;
        if (ch === '\\') {
          const escaped = ESCAPES[rest[0] ?? ''];
          if (escaped === undefined) throw new Error(`bad escape in label ${labelName}`);
          value += escaped;
          rest = rest.slice(1);
        } else {
          value += ch;
        }
      }
      if (labelName in labels) throw new Error(`label ${labelName} given twice`);
      labels[labelName] = value;
      rest = rest.trimStart();
      if (rest.startsWith(',')) rest = rest.slice(1);
      else if (!rest.startsWith('}')) throw new Error('expected , or } after a label');
    }
  }
  // The value, then an optional timestamp.
  const fields = rest.trim().split(/\s+/);
  if (fields.length < 1 || fields.length > 2 || fields[0] === '') throw new Error('expected a value and an optional timestamp');
  return { name, labels, value: parseValue(fields[0] as string) };
}

/** As Prometheus reads values (Go's ParseFloat): NaN and Inf in any case, so prom-client's `Nan` too. */
function parseValue(text: string): number {
  const special = /^([+-]?)(inf|infinity|nan)$/i.exec(text);
  if (special !== null) return (special[2] as string).toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity;
  const value = Number(text);
  if (text === '' || Number.isNaN(value)) throw new Error(`bad value ${JSON.stringify(text)}`);
  return value;
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && a[key] === b[key]);
}

function formatSeries(name: string, labels: Readonly<Record<string, string>>): string {
  const pairs = Object.entries(labels).map(([key, value]) => `${key}=${JSON.stringify(value)}`);
  return pairs.length > 0 ? `${name}{${pairs.join(',')}}` : name;
}
