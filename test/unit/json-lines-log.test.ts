// The CLI's JSON log lines (src/cli/json-lines.ts) are pino's, byte for byte: every call is made
// on the CLI's logger and on a plain pino logger with the same options, at the same instant, and
// the bytes must be equal, whether the encoder wrote the line or handed it to pino. The common
// lines (a connection's open and close) must not go through pino at all.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type Logger as PinoLogger, pino } from 'pino';
import { type CliLog, createJsonLogger, JsonLineLogger } from '../../src/cli/json-lines.js';
import { LineBatch } from '../../src/cli/line-batch.js';
import type { LogLevel } from '../../src/core/log.js';

const LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];
const TIME = 1_796_674_335_178;

/** The CLI's logger and a plain pino one, with what each has written. */
class Pair {
  private readonly handed: Buffer[] = [];
  private readonly expected: string[] = [];
  readonly batch = new LineBatch((lines) => this.handed.push(Buffer.from(lines)));
  /** Lines that went through pino (the batch's string path) rather than the encoder. */
  pinoLines = 0;
  fast: CliLog;
  reference: PinoLogger;

  constructor(level = 'trace') {
    const write = this.batch.write.bind(this.batch);
    this.batch.write = (line: string): boolean => {
      this.pinoLines++;
      return write(line);
    };
    this.fast = createJsonLogger(level, this.batch);
    this.reference = pino({ level }, { write: (line: string) => void this.expected.push(line) });
  }

  child(bindings: Record<string, unknown>): void {
    this.fast = this.fast.child(bindings);
    this.reference = this.reference.child(bindings);
  }

  /** Makes the same call on both at `time`. */
  log(level: LogLevel, obj: object | string, msg?: string, time = TIME): void {
    const now = Date.now;
    Date.now = () => time;
    try {
      const loggers: CliLog[] = [this.fast, this.reference];
      for (const logger of loggers) {
        if (typeof obj === 'string') logger[level](obj);
        else if (msg === undefined) logger[level](obj);
        else logger[level](obj, msg);
      }
    } finally {
      Date.now = now;
    }
  }

  /** Both outputs so far, as bytes. */
  outputs(): { actual: Buffer; expected: Buffer } {
    this.batch.handOver();
    return { actual: Buffer.concat(this.handed), expected: Buffer.from(this.expected.join('')) };
  }

  assertEqual(what: string): void {
    const { actual, expected } = this.outputs();
    assert.equal(actual.toString('latin1'), expected.toString('latin1'), what);
    assert.ok(actual.equals(expected), what);
  }
}

/** An object with exactly these own properties, in this order (even `__proto__`). */
function objectOf(entries: readonly (readonly [string, unknown])[], nullPrototype = false): Record<string, unknown> {
  const obj: Record<string, unknown> = nullPrototype ? (Object.create(null) as Record<string, unknown>) : {};
  for (const [key, value] of entries) Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  return obj;
}

const connectionOpened = { connId: 1, remote: '127.0.0.1', remotePort: 33200, listener: 'tcp://127.0.0.1:18083' };
const connectionClosed = {
  ...connectionOpened,
  via: { address: '10.0.0.1', port: 443 },
  tls: { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' },
  reason: 'client_closed',
  forced: true,
  errorCode: 'ECONNRESET',
  bytesIn: 12,
  bytesOut: 12,
  lines: 2,
  discardedTailBytes: 7,
  durationMs: 1004,
};

describe('JSON log lines', () => {
  it('the CLI logger puts the encoder in front of pino', () => {
    assert.ok(new Pair().fast instanceof JsonLineLogger, 'the start-up probes matched pino');
  });

  it("a connection's open and close lines are pino's bytes, written without pino", () => {
    const pair = new Pair('info');
    pair.child({ serverId: 'lab1' });
    pair.log('info', connectionOpened, 'connection opened');
    pair.log('info', connectionClosed, 'connection closed', TIME + 1);
    pair.log('warn', { ...connectionOpened, reason: 'error', errorCode: 'EPIPE' }, 'connection closed', TIME + 1);
    pair.child({ worker: 3 });
    pair.log('info', { method: 'GET', path: '/echo?x="1"', status: 200, bytesIn: 0, bytesOut: 321, durationMs: 0.25 }, 'http request');
    pair.log('warn', 'a message alone');
    pair.assertEqual('the lines');
    assert.equal(pair.pinoLines, 0, 'no line went through pino');
  });

  it('edge cases: escapes, unicode, lone surrogates, numbers, nesting, odd objects, every level', () => {
    const circular: Record<string, unknown> = { a: 1 };
    circular.self = circular;
    const err = new Error('boom');
    const cases: [object | string, string | undefined][] = [
      [{ s: 'quote " backslash \\ newline \n tab \t nul \u0000 unit \u001f del \u007f' }, 'm'],
      [{ s: 'é ü 中文 \u2028 \u2029 \ud83d\ude00', ключ: 'значение' }, 'unicode "msg" é'],
      [{ lone: 'x\ud800y', low: '\udc00', pair: '\ud83d\ude00' }, 'lone'],
      [{ long: `${'a'.repeat(150)}\ud800`, longPlain: 'b'.repeat(150) }, undefined],
      [{ ['k\ud800']: 1 }, 'lone surrogate key'],
      [{ m: 1 }, 'lone surrogate message \udfff'],
      [{ 'k"e\\y': 1, '': 2, 'a\nb': 3 }, 'keys needing escapes'],
      [
        {
          zero: 0,
          negZero: -0,
          nan: NaN,
          inf: Infinity,
          negInf: -Infinity,
          frac: 0.1,
          tiny: 5e-324,
          big: 1e21,
          exp: 1.5e-7,
          max: Number.MAX_SAFE_INTEGER,
          min: Number.MIN_SAFE_INTEGER,
          unsafe: 2 ** 53,
          i31: 2 ** 31 - 1,
          i31p: 2 ** 31,
          neg31: -(2 ** 31),
          billion: 1e9,
          belowBillion: 999_999_999,
          aboveBillion: 1_000_000_001,
          withZeros: 4_000_000_007,
          maxValue: Number.MAX_VALUE,
        },
        'numbers',
      ],
      [{ t: true, f: false, n: null, u: undefined, fn: () => 1, sym: Symbol('s') }, 'other primitives'],
      [{ nested: { a: [1, 'x', null, { b: undefined, c: 'é\ud800' }], e: {} }, arr: [], empty: {} }, 'nesting'],
      [{ date: new Date(TIME), json: { toJSON: () => 'custom' }, gone: { toJSON: () => undefined } }, 'toJSON'],
      [{ '2': 'b', '1': 'a', z: 1, '10': 'c', a: 2 }, 'integer keys first'],
      [{}, 'empty object'],
      [{}, undefined],
      [{ msg: 'in the object' }, undefined],
      [{ msg: 'in the object' }, 'and the argument'],
      [{ level: 99, time: 1, pid: 2, hostname: 'h' }, 'keys pino also writes'],
      [{ err }, 'an err key'],
      [{ err: 'not an error' }, undefined],
      [{ error: err }, 'an Error under another key'],
      [err, undefined],
      [err, 'an Error as the object'],
      [{ big: 1n }, 'bigint'],
      [circular, 'circular'],
      [{ method: 'GET', headers: { a: '1' }, socket: { remoteAddress: '::1' } }, 'looks like a request'],
      [{ setHeader: () => {} }, 'looks like a response'],
      [
        objectOf([
          ['__proto__', 'own'],
          ['x', 1],
        ]),
        'own __proto__',
      ],
      [
        objectOf(
          [
            ['a', 1],
            ['b', 'two'],
          ],
          true,
        ),
        'null prototype',
      ],
      [
        new (class Point {
          x = 1;
          y = 2;
        })(),
        'class instance',
      ],
      [Object.create({ inherited: 1 }, { own: { value: 2, enumerable: true } }) as object, 'inherited key'],
      [['array', 'as object'], 'array'],
      [{ huge: 'x'.repeat(10_000) }, 'longer than the encoder writes'],
      [{ manyKeys: 1, ...Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i])) }, 'many keys'],
      ['a message alone', undefined],
      ['a message with %s %d %j placeholders', undefined],
      [{ a: 1 }, 'placeholders in the message %s %o %%'],
      ['', undefined],
      [{ a: '' }, ''],
    ];
    const pair = new Pair();
    pair.child({ serverId: 'lab "1" é', worker: 0, nested: { a: [1] } });
    for (const [obj, msg] of cases) for (const level of LEVELS) pair.log(level, obj, msg);
    pair.assertEqual('every case at every level');
  });

  it('child bindings, nested children and times are pino’s', () => {
    const pair = new Pair('debug');
    for (const time of [0, 1, 9, 10, 999_999_999, 1_000_000_000, TIME, 2 ** 31, Number.MAX_SAFE_INTEGER]) {
      pair.log('info', { a: 1 }, 'time', time);
    }
    pair.child({ serverId: 'vm' });
    pair.log('info', { a: 1 }, 'child');
    pair.child({ worker: 2, listener: 'unix:///tmp/é.sock', n: null, skipped: undefined });
    pair.log('debug', { a: 1 }, 'grandchild');
    pair.log('trace', { a: 1 }, 'below the level: written by neither');
    pair.assertEqual('bindings and times');
  });

  it('an enumerable property on Object.prototype is left out, as pino leaves it out', () => {
    const pair = new Pair('info');
    Object.defineProperty(Object.prototype, 'polluted', { value: 'inherited', enumerable: true, configurable: true });
    try {
      pair.log('info', connectionOpened, 'connection opened');
    } finally {
      delete (Object.prototype as Record<string, unknown>).polluted;
    }
    pair.assertEqual('own keys only');
  });

  it('random objects, messages, levels and bindings give pino’s bytes (property)', () => {
    // Characters that each take a different path: printable ASCII, escapes, non-ASCII, surrogates.
    const char = fc.oneof(
      fc.constantFrom('a', 'Z', '0', ' ', ':', '/', '"', '\\', '\n', '\u0000', '\u001f', '\u007f', 'é', '\u2028', '中'),
      fc.constantFrom('\ud83d\ude00', '\ud800', '\udbff', '\udc00', '\udfff'),
      fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)),
    );
    const text = fc.oneof(fc.string({ unit: char, maxLength: 12 }), fc.string({ unit: char, minLength: 95, maxLength: 110 }));
    const key = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.constantFrom('connId', 'remote', 'a', 'b', 'msg', 'level', 'time', 'err', '1', '10', '', '__proto__', 'toJSON'),
      },
      { weight: 1, arbitrary: text },
    );
    const number = fc.oneof(
      fc.integer(),
      fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }),
      fc.double(),
      fc.constantFrom(-0, NaN, Infinity, -Infinity, 2 ** 53, 1e21, 1e-7),
    );
    const { value } = fc.letrec((tie) => ({
      leaf: fc.oneof(text, number, fc.boolean(), fc.constant(null), fc.constant(undefined), fc.date({ noInvalidDate: true })),
      value: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        tie('leaf'),
        fc.array(tie('value'), { maxLength: 3 }),
        fc.array(fc.tuple(key, tie('value')), { maxLength: 3 }).map((entries) => objectOf(entries)),
      ),
    }));
    const fields = fc
      .tuple(fc.array(fc.tuple(key, value), { maxLength: 8 }), fc.boolean())
      .map(([entries, bare]) => objectOf(entries, bare));
    const call = fc.record({
      level: fc.constantFrom(...LEVELS),
      obj: fc.oneof({ weight: 5, arbitrary: fields }, { weight: 1, arbitrary: text }),
      msg: fc.option(text, { nil: undefined }),
      time: fc.oneof(fc.constant(TIME), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
    });
    fc.assert(
      fc.property(fc.array(fc.tuple(key, value), { maxLength: 3 }), fc.array(call, { minLength: 1, maxLength: 10 }), (bindings, calls) => {
        const pair = new Pair();
        pair.child(objectOf(bindings));
        for (const { level, obj, msg, time } of calls) pair.log(level, obj, msg, time);
        const { actual, expected } = pair.outputs();
        return actual.equals(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('lines keep their order across batches, whichever way each was written', () => {
    const pair = new Pair('info');
    for (let i = 0; i < 3000; i++) {
      pair.log('info', { ...connectionClosed, connId: i }, 'connection closed', TIME + i);
      if (i % 7 === 0) pair.log('warn', { err: new Error(`e${i}`) }, 'through pino');
      if (i % 11 === 0) pair.log('info', { s: `lone \ud800 ${i}` }, 'through pino too');
    }
    pair.assertEqual('3000 connections and their interleaved lines');
    assert.ok(pair.pinoLines > 0 && pair.pinoLines < 1000, 'both paths were taken');
  });

  it('a closed batch takes no more lines on either path', () => {
    const pair = new Pair('info');
    pair.log('info', connectionOpened, 'before');
    const { actual } = pair.outputs();
    pair.batch.close();
    pair.fast.info(connectionOpened, 'after');
    pair.fast.error({ err: new Error('after') }, 'after');
    pair.batch.handOver();
    assert.ok(pair.outputs().actual.equals(actual), 'nothing after close');
  });
});
