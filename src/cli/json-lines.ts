/**
 * The CLI's JSON log lines without pino's per-line work: for a call whose object pino would only
 * serialize (a plain object, no serializer key such as `err`), the line's bytes are encoded
 * straight into the batch buffer (line-batch.ts), no string built; every other call goes to the
 * pino logger underneath, into the same batch, in call order. The bytes are pino's own, key for
 * key: pino's level, time, base and child bindings (taken from pino itself, never re-derived), the
 * fields in pino's order with pino's rules (undefined, functions and symbols left out, non-finite
 * numbers as null, nested values by JSON.stringify), then `msg`. A connection's open and close
 * lines are most of what a busy server logs; through pino each costs a few strings and their
 * collection per line (docs/performance.md).
 *
 * Anything the encoder does not handle exactly as pino would (a lone surrogate in a top-level
 * string, which pino may write raw; a value JSON.stringify throws on; a line longer than
 * FAST_LINE_MAX_BYTES) abandons the half-written line and goes to pino. At start-up the encoder's
 * lines are compared with pino's for a set of probes; if pino's format ever differs (another
 * version, other options), every call goes to pino.
 */
import { tracingChannel } from 'node:diagnostics_channel';
import { pino, type Logger as PinoLogger } from 'pino';
import type { Logger, LogLevel } from '../core/log.js';
import { LineBatch } from './line-batch.js';

/** The logger the CLI hands around: the library's interface, and child loggers with bindings. */
export interface CliLog extends Logger {
  child(bindings: Record<string, unknown>): CliLog;
}

/**
 * The CLI's JSON logger at `level`, writing to `batch`: pino with its defaults (`level`, `time`,
 * `pid`, `hostname`, then bindings, fields and `msg`), the encoder in front.
 */
export function createJsonLogger(level: string, batch: LineBatch): CliLog {
  return JsonLineLogger.over(pino({ level }, batch), batch);
}

/** pino's level numbers. */
const LEVEL_VALUES = { fatal: 60, error: 50, warn: 40, info: 30, debug: 20, trace: 10 } as const satisfies Record<LogLevel, number>;

/** The longest line the encoder writes; a longer one (a rarity) goes through pino. */
const FAST_LINE_MAX_BYTES = 8 * 1024;
/** Keys and messages kept encoded (echod has a few dozen); past these, the rest are encoded per line. */
const CACHED_KEYS_MAX = 1024;
const CACHED_MESSAGES_MAX = 1024;
/** Positions in an object whose last key is remembered. */
const KEY_SLOTS = 32;
/** A number's text is at most 25 bytes (`-1.2345678901234567e-300`, `null`). */
const NUMBER_MAX_BYTES = 25;

/** What a call with a message only logs besides it. */
const NO_FIELDS = Object.freeze({});

/** Up to this many bytes, a loop copies faster than the native call. */
const SHORT_COPY_BYTES = 16;

/** A write that cannot be done as pino would: the line goes to pino. */
const ABORT = -1;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const DIGIT_0 = 0x30;
const INT32_MAX = 0x7fffffff;
const BILLION = 1e9;
const BILLION_DIGITS = 9;
/** 10^n at n: a number of n + 1 digits is at least 10^n. Up to INT32_MAX, ten digits. */
const POWERS_OF_TEN = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
const FIRST_PRINTABLE = 0x20;
const FIRST_NON_ASCII = 0x80;

const NULL_BYTES = Buffer.from('null');
const TRUE_BYTES = Buffer.from('true');
const FALSE_BYTES = Buffer.from('false');
const LINE_END = Buffer.from('}\n');
const MESSAGE_KEY = Buffer.from(',"msg":');
/** A UTF-16 surrogate without its other half: pino may write it raw where JSON.stringify escapes it. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** pino's internals the encoder reads, by pino's exported symbols. */
interface PinoInternals {
  lsCache: Record<number, string>;
  chindings: string;
  serializers: Record<string, unknown>;
  asJson: (obj: object, msg: string | undefined, num: number, time: string) => string;
}

function internals(logger: PinoLogger): PinoInternals | null {
  const fields = logger as unknown as Record<symbol, unknown>;
  const { symbols } = pino;
  const lsCache = fields[symbols.lsCacheSym];
  const chindings = fields[symbols.chindingsSym];
  const serializers = fields[symbols.serializersSym];
  const asJson = fields[symbols.asJsonSym];
  const hooks = fields[symbols.hooksSym] as { logMethod?: unknown; streamWrite?: unknown } | undefined;
  const plain =
    typeof lsCache === 'object' &&
    lsCache !== null &&
    typeof chindings === 'string' &&
    typeof serializers === 'object' &&
    serializers !== null &&
    typeof asJson === 'function' &&
    // What pino does around asJson for every line: none of it may be in use.
    fields[symbols.timeSym] === pino.stdTimeFunctions.epochTime &&
    fields[symbols.mixinSym] === undefined &&
    logger.msgPrefix === undefined &&
    fields[symbols.messageKeySym] === 'msg' &&
    hooks?.logMethod === undefined &&
    hooks?.streamWrite === undefined;
  if (!plain) return null;
  return {
    lsCache: lsCache as Record<number, string>,
    chindings,
    serializers: serializers as Record<string, unknown>,
    asJson: (asJson as PinoInternals['asJson']).bind(logger),
  };
}

/** Anyone tracing pino's serialization (diagnostics_channel) sees every line: then pino writes them all. */
const pinoTracing = tracingChannel('pino_asJson') as unknown as { hasSubscribers?: boolean };

/**
 * Encodes lines into a LineBatch. Shared by a root logger and its children: the keys, messages,
 * level prefixes and time are the same for all of them; each logger brings its bindings.
 */
export class JsonLineEncoder {
  /** `{"level":N,"time":` by level number. */
  private readonly heads = new Map<number, Buffer>();
  /** `,"key":` for each key seen, or null for a key pino serializes (the line goes to pino). */
  private readonly keys = new Map<string, Buffer | null>();
  /** The key last seen at each position of an object, and its bytes. */
  private readonly slotKeys = new Array<string | undefined>(KEY_SLOTS).fill(undefined);
  private readonly slotNames = new Array<Buffer | null>(KEY_SLOTS).fill(null);
  /** `,"msg":"…"}\n` for each message seen, or null for one pino may write otherwise. */
  private readonly messages = new Map<string, Buffer | null>();
  /** The last time written, and its digits (lines in the same millisecond share them). */
  private lastTime = -1;
  private readonly timeDigits = Buffer.alloc(NUMBER_MAX_BYTES);
  private timeLength = 0;

  constructor(
    private readonly batch: LineBatch,
    private readonly serializers: Record<string, unknown>,
    lsCache: Record<number, string>,
  ) {
    for (const num of Object.values(LEVEL_VALUES)) this.heads.set(num, Buffer.from(`${lsCache[num]},"time":`));
  }

  /**
   * Writes pino's line for `obj` and `msg` at level `num` with `bindings` (pino's chindings,
   * encoded), at `time`; false when this line is pino's to write. A closed batch takes nothing,
   * as pino's write to it would take nothing.
   */
  line(num: number, bindings: Buffer, obj: object, msg: string | undefined, time: number): boolean {
    const proto: unknown = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) return false;
    const fields = obj as Record<string, unknown>;
    // pino maps what looks like an HTTP request or response before serializing it.
    if ((fields.method && fields.headers && fields.socket) || typeof fields.setHeader === 'function') return false;
    if (pinoTracing.hasSubscribers === true) return false;
    const batch = this.batch;
    if (!batch.room(FAST_LINE_MAX_BYTES)) return true;
    const buffer = batch.buffer;
    const end = batch.used + FAST_LINE_MAX_BYTES;
    const head = this.heads.get(num);
    if (head === undefined) return false;
    let pos = copy(buffer, batch.used, head);
    if (time !== this.lastTime) {
      this.lastTime = time;
      this.timeLength = writeNumber(this.timeDigits, 0, time);
    }
    pos = copyPart(buffer, pos, this.timeDigits, this.timeLength);
    pos = copy(buffer, pos, bindings);
    let slot = -1;
    for (const key in fields) {
      if (!Object.hasOwn(fields, key)) continue;
      const value = fields[key];
      slot++;
      switch (typeof value) {
        case 'undefined':
        case 'function':
          continue;
        case 'string': {
          const name = this.key(key, slot);
          if (name === null || pos + name.length > end) return false;
          pos = writeString(buffer, copy(buffer, pos, name), end, value);
          break;
        }
        case 'number': {
          const name = this.key(key, slot);
          if (name === null || pos + name.length + NUMBER_MAX_BYTES > end) return false;
          pos = writeNumber(buffer, copy(buffer, pos, name), value);
          break;
        }
        case 'boolean': {
          const name = this.key(key, slot);
          if (name === null || pos + name.length + FALSE_BYTES.length > end) return false;
          pos = copy(buffer, copy(buffer, pos, name), value ? TRUE_BYTES : FALSE_BYTES);
          break;
        }
        default: {
          // Objects, null, symbols, bigints: pino's JSON.stringify of the value; undefined leaves the key out.
          let json: string | undefined;
          try {
            json = stringifyValue(value);
          } catch {
            return false; // pino would try safe-stable-stringify
          }
          if (json === undefined) continue;
          const name = this.key(key, slot);
          if (name === null || pos + name.length > end) return false;
          pos = writeUtf8(buffer, copy(buffer, pos, name), end, json);
        }
      }
      if (pos === ABORT) return false;
    }
    pos = this.message(buffer, pos, end, msg);
    if (pos === ABORT) return false;
    batch.commit(pos);
    return true;
  }

  /**
   * `key`'s bytes, by its position in the object first: the same calls log the same keys in the
   * same order, and comparing two keys is cheaper than hashing one.
   */
  private key(key: string, slot: number): Buffer | null {
    if (this.slotKeys[slot] === key) return this.slotNames[slot]!;
    let name = this.keys.get(key);
    if (name === undefined) {
      name = this.serializers[key] !== undefined || LONE_SURROGATE.test(key) ? null : Buffer.from(`,${JSON.stringify(key)}:`);
      if (this.keys.size < CACHED_KEYS_MAX) this.keys.set(key, name);
    }
    if (slot < KEY_SLOTS) {
      this.slotKeys[slot] = key;
      this.slotNames[slot] = name;
    }
    return name;
  }

  /** `,"msg":"…"}\n`, or `}\n` without a message. */
  private message(buffer: Buffer, pos: number, end: number, msg: string | undefined): number {
    if (msg === undefined) return pos + LINE_END.length > end ? ABORT : copy(buffer, pos, LINE_END);
    let tail = this.messages.get(msg);
    if (tail === undefined) {
      if (this.messages.size >= CACHED_MESSAGES_MAX) {
        if (pos + MESSAGE_KEY.length > end) return ABORT;
        pos = writeString(buffer, copy(buffer, pos, MESSAGE_KEY), end, msg);
        return pos === ABORT || pos + LINE_END.length > end ? ABORT : copy(buffer, pos, LINE_END);
      }
      tail = LONE_SURROGATE.test(msg) ? null : Buffer.from(`,"msg":${JSON.stringify(msg)}}\n`);
      this.messages.set(msg, tail);
    }
    return tail === null || pos + tail.length > end ? ABORT : copy(buffer, pos, tail);
  }
}

/** JSON.stringify, typed as what it returns: undefined for undefined, functions, symbols and toJSON giving those. */
const stringifyValue: (value: unknown) => string | undefined = JSON.stringify;

/** Copies `bytes` to `buffer` at `pos`; returns the position after them. */
function copy(buffer: Buffer, pos: number, bytes: Buffer): number {
  return copyPart(buffer, pos, bytes, bytes.length);
}

/** Copies the first `length` of `bytes`. */
function copyPart(buffer: Buffer, pos: number, bytes: Buffer, length: number): number {
  if (length > SHORT_COPY_BYTES) buffer.set(length === bytes.length ? bytes : bytes.subarray(0, length), pos);
  else for (let i = 0; i < length; i++) buffer[pos + i] = bytes[i]!;
  return pos + length;
}

/** A top-level string as pino writes it: printable ASCII as is; anything else by JSON.stringify (pino's own rule). */
function writeString(buffer: Buffer, pos: number, end: number, value: string): number {
  const length = value.length;
  if (pos + length + 2 > end) return ABORT;
  buffer[pos] = QUOTE;
  for (let i = 0; i < length; i++) {
    const code = value.charCodeAt(i);
    if (code < FIRST_PRINTABLE || code >= FIRST_NON_ASCII || code === QUOTE || code === BACKSLASH) {
      // pino writes a short string with a lone surrogate raw, a long one escaped: leave it to pino.
      return LONE_SURROGATE.test(value) ? ABORT : writeUtf8(buffer, pos, end, JSON.stringify(value));
    }
    buffer[pos + 1 + i] = code;
  }
  buffer[pos + 1 + length] = QUOTE;
  return pos + length + 2;
}

/** Text (already JSON), as UTF-8. */
function writeUtf8(buffer: Buffer, pos: number, end: number, text: string): number {
  // At most 3 bytes per UTF-16 unit.
  if (pos + text.length * 3 > end) return ABORT;
  return pos + buffer.write(text, pos);
}

/** A number as pino writes it (`'' + value`, or null when not finite); the caller leaves NUMBER_MAX_BYTES free. */
function writeNumber(buffer: Buffer, pos: number, value: number): number {
  if (Number.isSafeInteger(value)) {
    // -0 is written 0, as String(-0) is.
    if (value < 0) buffer[pos++] = MINUS;
    const magnitude = Math.abs(value);
    if (magnitude <= INT32_MAX) return writeDigits(buffer, pos, magnitude, 1);
    // Split where 32-bit arithmetic holds: a double's % and / are far slower.
    const low = magnitude % BILLION;
    return writeDigits(buffer, writeDigits(buffer, pos, (magnitude - low) / BILLION, 1), low, BILLION_DIGITS);
  }
  if (!Number.isFinite(value)) return copy(buffer, pos, NULL_BYTES);
  const text = String(value);
  for (let i = 0; i < text.length; i++) buffer[pos + i] = text.charCodeAt(i);
  return pos + text.length;
}

/** `value` (0 to INT32_MAX) in decimal, zero-padded to `minDigits`. */
function writeDigits(buffer: Buffer, pos: number, value: number, minDigits: number): number {
  let digits = minDigits;
  while (digits < POWERS_OF_TEN.length && value >= POWERS_OF_TEN[digits]!) digits++;
  let rest = value | 0;
  for (let i = pos + digits - 1; i >= pos; i--) {
    const next = (rest / 10) | 0;
    buffer[i] = DIGIT_0 + rest - next * 10;
    rest = next;
  }
  return pos + digits;
}

/**
 * A logger with pino's interface and output, whose plain calls the encoder writes. `fatal` always
 * goes to pino (rare, and pino flushes after it).
 */
export class JsonLineLogger implements CliLog {
  private readonly minLevel: number;
  private readonly bindings: Buffer;

  private constructor(
    private readonly pino: PinoLogger,
    private readonly encoder: JsonLineEncoder,
    chindings: string,
  ) {
    this.minLevel = pino.levelVal;
    this.bindings = Buffer.from(chindings);
  }

  /**
   * `logger` writing to `batch`, with the encoder in front when its lines match pino's (checked
   * here, once); otherwise `logger` itself.
   */
  static over(logger: PinoLogger, batch: LineBatch): CliLog {
    const found = internals(logger);
    if (found === null) return logger;
    const encoder = new JsonLineEncoder(batch, found.serializers, found.lsCache);
    const fast = new JsonLineLogger(logger, encoder, found.chindings);
    return fast.matchesPino(found) ? fast : logger;
  }

  fatal(obj: object | string, msg?: string): void {
    this.slow('fatal', obj, msg);
  }

  error(obj: object | string, msg?: string): void {
    this.log('error', obj, msg);
  }

  warn(obj: object | string, msg?: string): void {
    this.log('warn', obj, msg);
  }

  info(obj: object | string, msg?: string): void {
    this.log('info', obj, msg);
  }

  debug(obj: object | string, msg?: string): void {
    this.log('debug', obj, msg);
  }

  trace(obj: object | string, msg?: string): void {
    this.log('trace', obj, msg);
  }

  isLevelEnabled(level: LogLevel): boolean {
    return this.pino.isLevelEnabled(level);
  }

  child(bindings: Record<string, unknown>): CliLog {
    const child = this.pino.child(bindings);
    const chindings = internals(child)?.chindings;
    return chindings === undefined ? child : new JsonLineLogger(child, this.encoder, chindings);
  }

  private log(level: LogLevel, obj: object | string, msg: string | undefined): void {
    const num = LEVEL_VALUES[level];
    if (num < this.minLevel) return;
    const written =
      typeof obj === 'string'
        ? msg === undefined && this.encoder.line(num, this.bindings, NO_FIELDS, obj, Date.now())
        : typeof obj === 'object' &&
          obj !== null &&
          (msg === undefined || typeof msg === 'string') &&
          this.encoder.line(num, this.bindings, obj, msg, Date.now());
    if (!written) this.slow(level, obj, msg);
  }

  /** The call as pino takes it (with as many arguments: pino formats a message given more). */
  private slow(level: LogLevel, obj: object | string, msg: string | undefined): void {
    if (msg === undefined) this.pino[level](obj);
    else this.pino[level](obj, msg);
  }

  /** The encoder's lines for the probes, byte for byte pino's. */
  private matchesPino(found: PinoInternals): boolean {
    const time = 1_796_674_335_178;
    const probes: [object, string | undefined][] = [
      [{ connId: 1, remote: '127.0.0.1', remotePort: 33200, listener: 'tcp://127.0.0.1:8080' }, 'connection opened'],
      [{ s: 'é "q" \\ \n\u2028', n: -0, f: 1.5e-7, big: 2 ** 60, inf: -Infinity, nan: NaN, t: true, z: null, u: undefined }, undefined],
      [{ via: { address: '::1', port: 1 }, list: [1, 'x', null], empty: {}, 'k"ey': 'ü' }, 'm "é"'],
      [{}, '\t'],
    ];
    const probe = new LineBatch(() => {});
    const encoder = new JsonLineEncoder(probe, found.serializers, found.lsCache);
    try {
      for (const [obj, msg] of probes) {
        for (const num of Object.values(LEVEL_VALUES)) {
          const start = probe.used;
          if (!encoder.line(num, this.bindings, obj, msg, time)) return false;
          const expected = Buffer.from(found.asJson(obj, msg, num, `,"time":${time}`));
          if (!probe.buffer.subarray(start, probe.used).equals(expected)) return false;
        }
      }
      return true;
    } finally {
      probe.close();
    }
  }
}
