// The fault table (src/config/faults.ts FAULTS) is the one declaration of every fault: these
// tests prove that flags, `--help`, environment variables, listen-URL keys, parsing, library
// validation and the "has no effect" warnings are derived from it, so that an entry added to
// the table shows up everywhere and a fault cannot exist in one place only.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveCliConfig } from '../../src/cli/config.js';
import { envName, FLAGS, helpText, parseCommandLine } from '../../src/cli/flags.js';
import { InvalidOptionError } from '../../src/core/errors.js';
import { checkFaults, FAULTS, parseFault } from '../../src/config/faults.js';
import { ListenUrlError, parseListenUrl } from '../../src/config/listen-url.js';
import { resolveOptions } from '../../src/config/options.js';

/** A valid text for each fault, and a value the library must refuse. Keyed by name so a new fault fails here until it has both. */
const SAMPLES: Readonly<Record<string, { text: string; bad: unknown }>> = {
  delay: { text: '20ms..80ms', bad: [80, 20] },
  throttle: { text: '64KiB/s', bad: 0 },
  chunk: { text: '1400', bad: 1.5 },
  'close-after': { text: 'bytes=1KiB', bad: { lines: 0 } },
  'close-how': { text: 'rst', bad: 'FIN' },
  'accept-then-hang': { text: 'true', bad: undefined },
  'refuse-rate': { text: '0.5', bad: 2 },
  'drop-rate': { text: '0.25', bad: -0.1 },
  'duplicate-rate': { text: '1', bad: Number.NaN },
  'reorder-window': { text: '4', bad: 0 },
};

function sample(name: string): { text: string; bad: unknown } {
  const found = SAMPLES[name];
  assert.ok(found !== undefined, `test/fault-table.test.ts has a sample for the fault ${name}`);
  return found;
}

describe('the fault table', () => {
  it('each entry is complete and unique: a name, an option, listener kinds and help', () => {
    assert.equal(new Set(FAULTS.map((fault) => fault.name)).size, FAULTS.length, 'names are unique');
    assert.equal(new Set(FAULTS.map((fault) => fault.option)).size, FAULTS.length, 'options are unique');
    for (const fault of FAULTS) {
      assert.match(fault.name, /^[a-z]+(-[a-z]+)*$/, `${fault.name}: a flag and URL key spelling`);
      assert.ok(fault.appliesTo.length > 0, `${fault.name} applies to some listener kind`);
      assert.ok(fault.help.length > 0, `${fault.name} has help`);
      sample(fault.name);
    }
  });

  it('every fault is a flag of kind fault, in table order, and nothing else is', () => {
    assert.deepEqual(
      FLAGS.filter((flag) => flag.kind === 'fault').map((flag) => flag.name),
      FAULTS.map((fault) => fault.name),
    );
  });

  it('every fault is in --help with its placeholder, its help and its variable; udp-only ones say so', () => {
    const help = helpText('0.0.0');
    for (const fault of FAULTS) {
      const line = help.split('\n').find((row) => row.startsWith(`  --${fault.name}${fault.arg === '' ? ' ' : ` ${fault.arg} `}`));
      assert.ok(line !== undefined, `--help has a line for --${fault.name}`);
      assert.ok(line.includes(fault.help), `--${fault.name}'s help`);
      assert.ok(line.includes(`[env: ${envName(fault.name)}]`), `--${fault.name}'s variable`);
      assert.equal(line.includes('fault (udp):'), !fault.appliesTo.includes('stream'), `--${fault.name} says whether it is udp only`);
    }
  });

  it('every fault is read from its flag and its variable, and reaches the listeners as the table parses it', () => {
    for (const fault of FAULTS) {
      const { text } = sample(fault.name);
      const expected = parseFault(fault.name, text);
      assert.deepEqual(Object.keys(expected), [fault.option], `${fault.name} sets ${fault.option}`);
      const argv = fault.arg === '' ? [`--${fault.name}`] : [`--${fault.name}`, text];
      for (const [how, parsed] of [
        ['flag', parseCommandLine(argv, {})],
        ['variable', parseCommandLine([], { [envName(fault.name)]: text })],
      ] as const) {
        const listener = resolveCliConfig(parsed, {}).resolved.listeners[0];
        assert.deepEqual(listener?.faults?.[fault.option], expected[fault.option], `${fault.name} by ${how}`);
      }
    }
  });

  it('every fault is a listen-URL query key, and an unknown key lists them all', () => {
    for (const fault of FAULTS) {
      const { text } = sample(fault.name);
      const scheme = fault.appliesTo.includes('stream') ? 'tcp' : 'udp';
      const listener = parseListenUrl(`${scheme}://127.0.0.1:0?${fault.name}=${encodeURIComponent(text)}`);
      assert.deepEqual(listener.faults, parseFault(fault.name, text), `?${fault.name}=`);
    }
    assert.throws(
      () => parseListenUrl('tcp://127.0.0.1:0?jitter=5ms'),
      (err: unknown) => err instanceof ListenUrlError && FAULTS.every((fault) => err.message.includes(fault.name)),
    );
  });

  it('http and https listeners take exactly the faults the table applies to http, by URL and through the library', () => {
    assert.ok(
      FAULTS.some((fault) => fault.appliesTo.includes('http')),
      'at least one fault acts on http listeners',
    );
    for (const fault of FAULTS) {
      const { text } = sample(fault.name);
      const url = `http://127.0.0.1:0?${fault.name}=${encodeURIComponent(text)}`;
      const faults = parseFault(fault.name, text);
      if (fault.appliesTo.includes('http')) {
        assert.deepEqual(parseListenUrl(url).faults, faults, `?${fault.name}= on http://`);
        assert.doesNotThrow(() => resolveOptions({ listeners: [{ protocol: 'http', host: '127.0.0.1', port: 0, faults }] }), fault.name);
      } else {
        assert.throws(() => parseListenUrl(url), ListenUrlError, `?${fault.name}= refused on http://`);
        assert.throws(
          () => resolveOptions({ listeners: [{ protocol: 'http', host: '127.0.0.1', port: 0, faults }] }),
          InvalidOptionError,
          fault.name,
        );
      }
    }
  });

  it('a value the table gives no HTTP meaning is refused on http listeners, by URL and through the library, and warned about from the CLI', () => {
    assert.throws(
      () => parseListenUrl('http://127.0.0.1:0?close-after=lines=3'),
      (err: unknown) => err instanceof ListenUrlError && /lines=N has no meaning on http/.test(err.message),
    );
    assert.deepEqual(parseListenUrl('tcp://127.0.0.1:0?close-after=lines=3').faults, { closeAfter: { lines: 3 } });
    assert.throws(
      () => resolveOptions({ listeners: [{ protocol: 'http', host: '127.0.0.1', port: 0, faults: { closeAfter: { lines: 3 } } }] }),
      InvalidOptionError,
    );
    const { resolved, warnings } = resolveCliConfig(
      parseCommandLine(['--listen', 'http://127.0.0.1:0', '--listen', 'tcp://127.0.0.1:0', '--close-after', 'lines=3'], {}),
      {},
    );
    assert.equal(resolved.listeners[0]?.faults, null, 'the http listener does not take it');
    assert.deepEqual(resolved.listeners[1]?.faults, { closeAfter: { lines: 3 } }, 'the tcp one does');
    assert.ok(
      warnings.some((warning) => warning.startsWith('--close-after has no effect on http:// and https:// listeners')),
      warnings.join('\n'),
    );
  });

  it('every fault with a refusable value is checked when given through the library, naming the option', () => {
    for (const fault of FAULTS) {
      const { bad } = sample(fault.name);
      if (bad === undefined) continue;
      assert.throws(
        () => checkFaults('listeners[0].faults', { [fault.option]: bad }),
        (err: unknown) => err instanceof InvalidOptionError && err.option.startsWith(`listeners[0].faults.${fault.option}`),
        `${fault.option}: ${JSON.stringify(bad)}`,
      );
      assert.throws(() => resolveOptions({ listeners: [{ faults: { [fault.option]: bad } }] }), InvalidOptionError);
    }
  });

  it('a fault flag with no listener of a kind it acts on is warned about, from the table', () => {
    for (const fault of FAULTS) {
      const { text } = sample(fault.name);
      const value = fault.arg === '' ? [`--${fault.name}`] : [`--${fault.name}`, text];
      const onTcp = resolveCliConfig(parseCommandLine(['--listen', 'tcp://127.0.0.1:0', ...value], {}), {}).warnings;
      const onUdp = resolveCliConfig(parseCommandLine(['--listen', 'udp://127.0.0.1:0', ...value], {}), {}).warnings;
      assert.equal(
        onTcp.some((warning) => warning.startsWith(`--${fault.name} has no effect`)),
        !fault.appliesTo.includes('stream'),
        `--${fault.name} with a tcp listener`,
      );
      assert.equal(
        onUdp.some((warning) => warning.startsWith(`--${fault.name} has no effect`)),
        !fault.appliesTo.includes('udp'),
        `--${fault.name} with a udp listener`,
      );
    }
  });

  it('a URL naming a fault its listener kind does not act on is warned about', () => {
    const warned = (url: string): string[] => resolveCliConfig(parseCommandLine(['--listen', url], {}), {}).warnings;
    assert.deepEqual(warned('tcp://127.0.0.1:0?drop-rate=0.5'), [
      '--listen tcp://127.0.0.1:0?drop-rate=0.5: udp faults have no effect on tcp://127.0.0.1:0',
    ]);
    assert.deepEqual(warned('udp://127.0.0.1:0?delay=5ms'), [
      '--listen udp://127.0.0.1:0?delay=5ms: stream faults have no effect on udp://127.0.0.1:0',
    ]);
    assert.deepEqual(warned('udp://127.0.0.1:0?drop-rate=0.5'), []);
  });
});
