// The pure parts of the network-testing features: the fault option parsers (flag and URL
// spellings), the banner/prefix templates, and `prefixLines`. Known answers first, then
// properties: a parser fails only with FaultOptionError, and a prefix can always be taken off
// again to give back exactly the bytes that went in.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type FaultOptions,
  FaultOptionError,
  parseCloseAfter,
  parseDelay,
  parseFault,
  parsePositiveInteger,
  parseRate,
  parseThrottle,
} from '../../src/config/faults.js';
import { prefixLines } from '../../src/core/framing.js';
import { ListenUrlError, parseListenUrl } from '../../src/config/listen-url.js';
import { expandTemplate, type TemplateValues, unescapeTemplate, unknownPlaceholders } from '../../src/core/template.js';

const TEST_TIMEOUT_MS = 10_000;
const FAULT_CODE = 'ERR_ECHOD_FAULT_OPTION';
/** Every fault key, as flags and URL queries spell them. */
const FAULT_KEYS = [
  'delay',
  'throttle',
  'chunk',
  'close-after',
  'close-how',
  'accept-then-hang',
  'refuse-rate',
  'drop-rate',
  'duplicate-rate',
  'reorder-window',
] as const;

/** Asserts `run` throws a FaultOptionError (checked by class and by its stable code). */
function throwsFault(run: () => unknown, what: string): void {
  assert.throws(run, (err: unknown) => err instanceof FaultOptionError && err.code === FAULT_CODE, `${what} is refused with ${FAULT_CODE}`);
}

describe('fault option parsers', () => {
  it('parseDelay: one duration is [d, d]; a range is [low, high]; anything else is refused', { timeout: TEST_TIMEOUT_MS }, () => {
    assert.deepEqual(parseDelay('50ms'), [50, 50]);
    assert.deepEqual(parseDelay('20ms..80ms'), [20, 80]);
    assert.deepEqual(parseDelay('1s..2s'), [1000, 2000]);
    assert.deepEqual(parseDelay('0'), [0, 0]);
    assert.deepEqual(parseDelay('0..100ms'), [0, 100]);
    assert.deepEqual(parseDelay('30ms..30ms'), [30, 30]);
    for (const bad of ['', '50', 'fast', '80ms..20ms', '10ms..20ms..30ms', '..', '10ms..', '..10ms', '-5ms', '1.5ms', '50 ms ..x']) {
      throwsFault(() => parseDelay(bad), `delay ${JSON.stringify(bad)}`);
    }
  });

  it('parseThrottle: SIZE/s in bytes per second; no unit per second, or zero, is refused', { timeout: TEST_TIMEOUT_MS }, () => {
    assert.equal(parseThrottle('64KiB/s'), 65_536);
    assert.equal(parseThrottle('8KiB/s'), 8192);
    assert.equal(parseThrottle('1MB/s'), 1_000_000);
    assert.equal(parseThrottle('1500/s'), 1500);
    for (const bad of ['', '64KiB', '0/s', '/s', 'fast/s', '-1/s', '64KiB/m', '64KiB/s/s']) {
      throwsFault(() => parseThrottle(bad), `throttle ${JSON.stringify(bad)}`);
    }
  });

  it('parseCloseAfter: lines=N, bytes=SIZE, time=DURATION, each at least 1', { timeout: TEST_TIMEOUT_MS }, () => {
    assert.deepEqual(parseCloseAfter('lines=10'), { lines: 10 });
    assert.deepEqual(parseCloseAfter('lines=1'), { lines: 1 });
    assert.deepEqual(parseCloseAfter('bytes=10'), { bytes: 10 });
    assert.deepEqual(parseCloseAfter('bytes=1MiB'), { bytes: 1_048_576 });
    assert.deepEqual(parseCloseAfter('time=30s'), { ms: 30_000 });
    assert.deepEqual(parseCloseAfter('time=300ms'), { ms: 300 });
    for (const bad of [
      '',
      'lines=0',
      'lines=01',
      'lines=1.5',
      'lines=-1',
      'bytes=0',
      'bytes=lots',
      'time=0',
      'time=30',
      'ms=300',
      'lines',
      'lines=',
      'seconds=3',
      'lines=2,bytes=3',
    ]) {
      throwsFault(() => parseCloseAfter(bad), `close-after ${JSON.stringify(bad)}`);
    }
  });

  it('parseRate: a share from 0 to 1 inclusive; outside it, empty or not a number is refused', { timeout: TEST_TIMEOUT_MS }, () => {
    assert.equal(parseRate('refuse-rate', '0'), 0);
    assert.equal(parseRate('refuse-rate', '1'), 1);
    assert.equal(parseRate('refuse-rate', '0.25'), 0.25);
    for (const bad of ['', ' ', '1.01', '-0.1', '2', 'half', 'NaN', 'Infinity', '50%']) {
      throwsFault(() => parseRate('drop-rate', bad), `drop-rate ${JSON.stringify(bad)}`);
    }
    assert.throws(
      () => parseRate('drop-rate', '7'),
      (err: unknown) => err instanceof FaultOptionError && err.message.includes('drop-rate'),
      'the message names the option',
    );
  });

  it('parsePositiveInteger: a whole number from 1, no leading zero, no fraction, no sign', { timeout: TEST_TIMEOUT_MS }, () => {
    assert.equal(parsePositiveInteger('chunk', '1'), 1);
    assert.equal(parsePositiveInteger('chunk', '1400'), 1400);
    for (const bad of ['', '0', '01', '1.0', '-1', '+1', '1e3', 'one', '0x10']) {
      throwsFault(() => parsePositiveInteger('chunk', bad), `chunk ${JSON.stringify(bad)}`);
    }
  });

  it(
    'parsePositiveInteger refuses a number beyond 2^53 (it would reach the options as an unsafe integer)',
    {
      timeout: TEST_TIMEOUT_MS,
    },
    () => {
      throwsFault(() => parsePositiveInteger('chunk', '99999999999999999999'), 'chunk 99999999999999999999');
    },
  );

  it('parseFault maps each flag/URL key to its option, and refuses unknown keys', { timeout: TEST_TIMEOUT_MS }, () => {
    const expected: Record<(typeof FAULT_KEYS)[number], [string, FaultOptions]> = {
      delay: ['20ms..80ms', { delayMs: [20, 80] }],
      throttle: ['64KiB/s', { throttleBytesPerSecond: 65_536 }],
      chunk: ['1', { chunkBytes: 1 }],
      'close-after': ['lines=2', { closeAfter: { lines: 2 } }],
      'close-how': ['rst', { closeHow: 'rst' }],
      'accept-then-hang': ['true', { acceptThenHang: true }],
      'refuse-rate': ['1', { refuseRate: 1 }],
      'drop-rate': ['0.5', { dropRate: 0.5 }],
      'duplicate-rate': ['0', { duplicateRate: 0 }],
      'reorder-window': ['5', { reorderWindow: 5 }],
    };
    for (const key of FAULT_KEYS) {
      const [value, options] = expected[key];
      assert.deepEqual(parseFault(key, value), options, `${key}=${value}`);
    }
    assert.deepEqual(parseFault('close-how', 'fin'), { closeHow: 'fin' });
    assert.deepEqual(parseFault('accept-then-hang', ''), { acceptThenHang: true }, 'a bare flag');
    assert.deepEqual(parseFault('accept-then-hang', '1'), { acceptThenHang: true });
    throwsFault(() => parseFault('close-how', 'FIN'), 'close-how FIN');
    throwsFault(() => parseFault('accept-then-hang', 'maybe'), 'accept-then-hang maybe');
    throwsFault(() => parseFault('jitter', '5ms'), 'an unknown fault key');
  });

  it('listen URLs carry faults in their query; a bad fault value is a ListenUrlError naming the URL', { timeout: TEST_TIMEOUT_MS }, () => {
    assert.deepEqual(
      parseListenUrl(
        'tcp://127.0.0.1:0?delay=20ms..80ms&chunk=1&close-after=lines=3&close-how=rst&refuse-rate=0.5&accept-then-hang=true&throttle=8KiB/s',
      ),
      {
        protocol: 'tcp',
        host: '127.0.0.1',
        port: 0,
        faults: {
          delayMs: [20, 80],
          chunkBytes: 1,
          closeAfter: { lines: 3 },
          closeHow: 'rst',
          refuseRate: 0.5,
          acceptThenHang: true,
          throttleBytesPerSecond: 8192,
        },
      },
    );
    assert.deepEqual(parseListenUrl('udp://:7000?drop-rate=0.1&duplicate-rate=0.2&reorder-window=4'), {
      protocol: 'udp',
      port: 7000,
      faults: { dropRate: 0.1, duplicateRate: 0.2, reorderWindow: 4 },
    });
    assert.equal(parseListenUrl('tcp://:1').faults, undefined, 'no faults unless asked for');
    for (const url of ['tcp://:1?delay=x', 'tcp://:1?close-after=lines=0', 'udp://:1?drop-rate=2', 'tcp://:1?chunk=0']) {
      assert.throws(
        () => parseListenUrl(url),
        (err: unknown) => err instanceof ListenUrlError && err.code === 'ERR_ECHOD_LISTEN_URL' && err.message.includes(url),
        `${url} is refused naming the URL`,
      );
    }
  });

  describe('properties', () => {
    // Pieces that real mistakes are made of, so that generated strings are often nearly valid.
    const piece = fc.constantFrom(
      '0',
      '1',
      '5',
      '9',
      '00',
      '20',
      '80',
      '.',
      '..',
      'ms',
      's',
      'm',
      'h',
      'KiB',
      'MB',
      'b',
      '/s',
      '/',
      'lines=',
      'bytes=',
      'time=',
      '=',
      '-',
      '+',
      'e',
      ' ',
      'x',
      'NaN',
      'Infinity',
      '\n',
      '\u00e9',
    );
    const text = fc.oneof(
      fc.array(piece, { maxLength: 8 }).map((parts) => parts.join('')),
      fc.string({ maxLength: 24 }),
      fc.string({ unit: 'binary', maxLength: 24 }),
    );

    /** Runs `parse`; returns its value, or undefined if it threw a FaultOptionError (anything else fails). */
    function attempt<T>(parse: () => T): T | undefined {
      try {
        return parse();
      } catch (err) {
        assert.ok(err instanceof FaultOptionError, `threw ${String(err)} instead of a FaultOptionError`);
        assert.equal(err.code, FAULT_CODE);
        return undefined;
      }
    }

    it('the parsers throw nothing but FaultOptionError, and what they return is in range', { timeout: TEST_TIMEOUT_MS }, () => {
      fc.assert(
        fc.property(text, (input) => {
          const delay = attempt(() => parseDelay(input));
          if (delay !== undefined) {
            const [min, max] = delay;
            assert.ok(
              Number.isSafeInteger(min) && Number.isSafeInteger(max) && min >= 0 && min <= max,
              `delay ${JSON.stringify(input)} → ${JSON.stringify(delay)}`,
            );
          }
          const rate = attempt(() => parseThrottle(input));
          if (rate !== undefined) assert.ok(Number.isSafeInteger(rate) && rate >= 1, `throttle ${JSON.stringify(input)} → ${rate}`);
          const after = attempt(() => parseCloseAfter(input));
          if (after !== undefined) {
            const values = Object.values(after);
            assert.equal(values.length, 1);
            assert.ok(
              Number.isSafeInteger(values[0]) && (values[0] as number) >= 1,
              `close-after ${JSON.stringify(input)} → ${JSON.stringify(after)}`,
            );
          }
          const share = attempt(() => parseRate('drop-rate', input));
          if (share !== undefined) assert.ok(share >= 0 && share <= 1, `rate ${JSON.stringify(input)} → ${share}`);
          const count = attempt(() => parsePositiveInteger('chunk', input));
          if (count !== undefined) assert.ok(Number.isInteger(count) && count >= 1, `positive integer ${JSON.stringify(input)} → ${count}`);
          for (const key of FAULT_KEYS) attempt(() => parseFault(key, input));
          attempt(() => parseFault(input, '1'));
        }),
        { numRuns: 2000 },
      );
    });

    it('a valid delay, throttle or close-after written out parses back to its numbers', { timeout: TEST_TIMEOUT_MS }, () => {
      fc.assert(
        fc.property(fc.nat({ max: 100_000 }), fc.nat({ max: 100_000 }), fc.integer({ min: 1, max: 1_000_000 }), (a, b, n) => {
          const [low, high] = a <= b ? [a, b] : [b, a];
          assert.deepEqual(parseDelay(`${low}ms..${high}ms`), [low, high]);
          assert.deepEqual(parseDelay(`${low}ms`), [low, low]);
          assert.equal(parseThrottle(`${n}/s`), n);
          assert.equal(parseThrottle(`${n}KiB/s`), n * 1024);
          assert.deepEqual(parseCloseAfter(`lines=${n}`), { lines: n });
          assert.deepEqual(parseCloseAfter(`bytes=${n}`), { bytes: n });
          assert.deepEqual(parseCloseAfter(`time=${n}ms`), { ms: n });
          assert.equal(parsePositiveInteger('chunk', String(n)), n);
        }),
        { numRuns: 500 },
      );
    });
  });
});

describe('banner and prefix templates', () => {
  const values: TemplateValues = {
    hostname: 'host-a',
    pid: 4242,
    server_id: 'lab1',
    conn_id: 17,
    remote: '127.0.0.1:50000',
    local: '127.0.0.1:7000',
    proxy_source: '203.0.113.7:40000',
    time: '2024-01-02T03:04:05.000Z',
    env: { POD_NAME: 'echod-0', EMPTY: '' },
  };

  it('unknownPlaceholders lists the names echod does not know, and env without a variable name', { timeout: TEST_TIMEOUT_MS }, () => {
    assert.deepEqual(
      unknownPlaceholders('{hostname} {pid} {server_id} {conn_id} {remote} {local} {proxy_source} {time} {env:POD_NAME}'),
      [],
    );
    assert.deepEqual(unknownPlaceholders('no placeholders at all, {} { } {1}'), []);
    assert.deepEqual(unknownPlaceholders('{hostnme} ok {pid} {env} {pid:x} {nope}'), ['{hostnme}', '{env}', '{pid:x}', '{nope}']);
  });

  it(
    'unknownPlaceholders refuses near misses in other cases and spellings instead of sending them as text',
    { timeout: TEST_TIMEOUT_MS },
    () => {
      assert.deepEqual(unknownPlaceholders('{HOSTNAME} {Pid} {server-id} {conn_id} {env:my-var} {env:}'), [
        '{HOSTNAME}',
        '{Pid}',
        '{server-id}',
        '{env:my-var}',
        '{env:}',
      ]);
      // Braces that cannot be placeholders stay text: JSON, numbers, empty and spaced braces.
      assert.deepEqual(unknownPlaceholders('{"id":1} {1} {} { pid } {-x}'), []);
    },
  );

  it('expandTemplate fills every placeholder; an unset variable is empty; other text is untouched', { timeout: TEST_TIMEOUT_MS }, () => {
    assert.equal(
      expandTemplate('{hostname}/{pid}/{server_id}/{conn_id}/{remote}/{local}/{proxy_source}/{time}/{env:POD_NAME}', values),
      'host-a/4242/lab1/17/127.0.0.1:50000/127.0.0.1:7000/203.0.113.7:40000/2024-01-02T03:04:05.000Z/echod-0',
    );
    assert.equal(expandTemplate('[{env:UNSET}][{env:EMPTY}]', values), '[][]');
    assert.equal(expandTemplate('{conn_id}{conn_id} {', values), '1717 {', 'each occurrence, and a lone brace stays');
    assert.equal(expandTemplate('{nope} {env}', values), '{nope} {env}', 'unknown ones are left as written (options refuse them first)');
    // One pass: a value that looks like a placeholder is not expanded again.
    assert.equal(expandTemplate('{env:POD_NAME}', { ...values, env: { POD_NAME: '{pid}' } }), '{pid}');
  });

  it('unescapeTemplate turns \\n \\r \\t \\\\ into their bytes and leaves other escapes alone', { timeout: TEST_TIMEOUT_MS }, () => {
    assert.equal(unescapeTemplate('a\\nb\\rc\\td\\\\e'), 'a\nb\rc\td\\e');
    assert.equal(unescapeTemplate('\\x \\0 \\'), '\\x \\0 \\');
    assert.equal(unescapeTemplate('\\\\n'), '\\n', 'an escaped backslash before n stays a backslash and an n');
  });
});

describe('prefixLines', () => {
  const prefix = Buffer.from('> ');

  it('puts the prefix before every line, and once before an unterminated tail', { timeout: TEST_TIMEOUT_MS }, () => {
    assert.equal(prefixLines(Buffer.from('one\ntwo\n'), prefix).toString(), '> one\n> two\n');
    assert.equal(prefixLines(Buffer.from('\n\n'), prefix).toString(), '> \n> \n', 'empty lines too');
    assert.equal(prefixLines(Buffer.from('one\ntail'), prefix).toString(), '> one\n> tail');
    assert.equal(prefixLines(Buffer.from('raw chunk without newline'), prefix).toString(), '> raw chunk without newline');
    assert.equal(prefixLines(Buffer.alloc(0), prefix).length, 0, 'nothing in, nothing out');
    assert.equal(
      prefixLines(Buffer.from('a\r\nb\0\n'), Buffer.from('\n')).toString('latin1'),
      '\na\r\n\nb\0\n',
      'any bytes, in the lines and in the prefix',
    );
  });

  it('property: taking the prefix off every line gives back exactly the input', { timeout: TEST_TIMEOUT_MS }, () => {
    // Newlines are common in both, so lines, empty lines and tails all occur; the prefix may hold a newline itself.
    const bytes = (max: number): fc.Arbitrary<Buffer> =>
      fc.array(fc.oneof(fc.constant(0x0a), fc.integer({ min: 0, max: 255 })), { maxLength: max }).map((array) => Buffer.from(array));
    fc.assert(
      fc.property(bytes(200), bytes(8), (input, pre) => {
        const out = prefixLines(input, pre);
        const pieces: Buffer[] = [];
        let at = 0;
        let lines = 0;
        while (at < out.length) {
          assert.ok(out.subarray(at, at + pre.length).equals(pre), `a prefix at byte ${at}`);
          at += pre.length;
          const nl = out.indexOf(0x0a, at);
          const end = nl === -1 ? out.length : nl + 1;
          pieces.push(out.subarray(at, end));
          at = end;
          lines++;
        }
        assert.ok(Buffer.concat(pieces).equals(input), 'the input, once the prefixes are removed');
        const newlines = input.filter((byte) => byte === 0x0a).length;
        const tail = input.length > 0 && input[input.length - 1] !== 0x0a ? 1 : 0;
        assert.equal(lines, newlines + tail, 'one prefix per line, plus one for a tail');
        assert.equal(out.length, input.length + lines * pre.length);
      }),
      { numRuns: 1000 },
    );
  });
});
