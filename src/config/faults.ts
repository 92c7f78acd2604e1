/**
 * Fault injection, off by default so plain echo stays byte-exact and fast: delay (with jitter),
 * throttling, chunked writes, closing after N lines/bytes/ms with FIN or RST, hanging after
 * accept, refusing a share of connections, and for UDP dropping, duplicating and reordering.
 *
 * {@link FAULTS} is the one list of faults: the CLI flags, their `--help` lines, the listen-URL
 * query keys, text parsing, the library-side validation and the "no udp:// listener" warnings
 * are all derived from it, so a fault added there exists everywhere at once.
 *
 * The option parsers are pure. The faults act in src/connection/shaper.ts (TCP output) and
 * src/transports/udp.ts (datagrams).
 */
import { InvalidOptionError } from '../core/errors.js';
import { MAX_TIMER_MS, parseBytes, parseDurationMs } from '../core/units.js';

export interface FaultOptions {
  /** Hold each echo this long before sending it, order kept; a [min, max] range is uniform jitter. */
  delayMs?: [number, number];
  /** Bytes per second per connection, each direction. */
  throttleBytesPerSecond?: number;
  /** Echo in writes of at most this many bytes. */
  chunkBytes?: number;
  /** Close once this many lines or bytes were echoed, or this long after opening. */
  closeAfter?: { lines: number } | { bytes: number } | { ms: number };
  /** How `closeAfter` closes: FIN (graceful) or RST. @default 'fin' */
  closeHow?: 'fin' | 'rst';
  /** Accept, then never read nor echo (the client's timeouts are what is tested). */
  acceptThenHang?: boolean;
  /** Close this share (0…1) of new connections at once. */
  refuseRate?: number;
  /** UDP: drop this share of datagrams. */
  dropRate?: number;
  /** UDP: answer this share of datagrams twice. */
  duplicateRate?: number;
  /** UDP: hold answers and release them shuffled within windows of this many. */
  reorderWindow?: number;
}

export class FaultOptionError extends Error {
  readonly code = 'ERR_ECHOD_FAULT_OPTION';
}

/** `50ms` → [50, 50]; `20ms..80ms` → [20, 80]. */
export function parseDelay(text: string): [number, number] {
  const [low = '', high, extra] = text.split('..');
  const min = parseDurationMs(low);
  const max = high === undefined ? min : parseDurationMs(high);
  if (extra !== undefined || min === undefined || max === undefined || max < min || max > MAX_TIMER_MS) {
    throw new FaultOptionError(`delay ${JSON.stringify(text)}: expected a duration (50ms) or a range (20ms..80ms)`);
  }
  return [min, max];
}

/** `64KiB/s` → 65536. */
export function parseThrottle(text: string): number {
  const match = /^(.+)\/s$/.exec(text.trim());
  const bytes = match === null ? undefined : parseBytes(match[1] ?? '');
  if (bytes === undefined || bytes === 0 || !Number.isSafeInteger(bytes))
    throw new FaultOptionError(`throttle ${JSON.stringify(text)}: expected a rate such as 64KiB/s`);
  return bytes;
}

/** `lines=10`, `bytes=1MiB`, `time=30s`. */
export function parseCloseAfter(text: string): NonNullable<FaultOptions['closeAfter']> {
  const match = /^(lines|bytes|time)=(.+)$/.exec(text.trim());
  if (match !== null) {
    const [, kind, value = ''] = match;
    if (kind === 'lines' && /^[1-9]\d*$/.test(value)) return { lines: Number(value) };
    if (kind === 'bytes') {
      const bytes = parseBytes(value);
      if (bytes !== undefined && bytes > 0) return { bytes };
    }
    if (kind === 'time') {
      const ms = parseDurationMs(value);
      if (ms !== undefined && ms > 0 && ms <= MAX_TIMER_MS) return { ms };
    }
  }
  throw new FaultOptionError(`close-after ${JSON.stringify(text)}: expected lines=N, bytes=SIZE or time=DURATION`);
}

export function parseRate(name: string, text: string): number {
  const rate = Number(text);
  if (text.trim() === '' || !Number.isFinite(rate) || rate < 0 || rate > 1)
    throw new FaultOptionError(`${name} ${JSON.stringify(text)}: expected a share from 0 to 1`);
  return rate;
}

export function parsePositiveInteger(name: string, text: string): number {
  const value = Number(text);
  if (!/^[1-9]\d*$/.test(text.trim()) || !Number.isSafeInteger(value))
    throw new FaultOptionError(`${name} ${JSON.stringify(text)}: expected a whole number ≥ 1`);
  return value;
}

/** Whether any per-connection output fault is set (the shaper is needed). */
export function shapesOutput(faults: FaultOptions | null): boolean {
  return (
    faults !== null &&
    (faults.delayMs !== undefined ||
      faults.throttleBytesPerSecond !== undefined ||
      faults.chunkBytes !== undefined ||
      faults.closeAfter !== undefined)
  );
}

/** The kinds of listener a fault acts on: stream (tcp, tls, unix) or udp. */
/** Which listeners a fault means something on: byte streams (tcp, tls, unix), udp, or http (http, https). */
export type ListenerKind = 'stream' | 'udp' | 'http';

/** One fault, declared once. */
export interface FaultSpecOf<K extends keyof FaultOptions> {
  /** Its spelling as a flag (`--drop-rate`, `ECHOD_DROP_RATE`) and as a listen-URL query key (`?drop-rate=`). */
  name: string;
  /** The {@link FaultOptions} field it sets. */
  option: K;
  /** The listener kinds it acts on; elsewhere it does nothing (and the CLI says so). */
  appliesTo: readonly ListenerKind[];
  /** Placeholder in `--help`; '' for a switch that takes no value. */
  arg: string;
  /** The `--help` description. */
  help: string;
  /** The default as `--help` shows it, when there is one worth showing. */
  shown?: string;
  /** Text (flag, variable, URL) → value. Throws FaultOptionError naming the fault. */
  parse(text: string): NonNullable<FaultOptions[K]>;
  /** Checks a value given through the library (`option` names it in the error). Throws InvalidOptionError. */
  check(option: string, value: unknown): void;
  /**
   * For a fault that applies to http: why this value of it has no meaning there (a sentence), or
   * null when it has one. Absent: every value does.
   */
  refusedOnHttp?(value: NonNullable<FaultOptions[K]>): string | null;
}

export type FaultSpec = { [K in keyof FaultOptions]-?: FaultSpecOf<K> }[keyof FaultOptions];

/** Throws InvalidOptionError unless `value` is an integer in [min, max]. */
export function checkInteger(option: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(option, value, `an integer from ${min} to ${max}`);
  }
}

function checkShare(option: string, value: unknown): void {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) throw new InvalidOptionError(option, value, 'a share from 0 to 1');
}

function checkPositive(option: string, value: unknown): void {
  checkInteger(option, value, 1, Number.MAX_SAFE_INTEGER);
}

const STREAM: readonly ListenerKind[] = ['stream'];
/** Byte streams and HTTP (src/transports/http.ts gives them their HTTP meaning, docs/http.md). */
const STREAM_AND_HTTP: readonly ListenerKind[] = ['stream', 'http'];
const UDP: readonly ListenerKind[] = ['udp'];

/** Every fault, in `--help` order. */
export const FAULTS: readonly FaultSpec[] = [
  {
    name: 'delay',
    option: 'delayMs',
    // http: each response waits this long (on top of a `delay` control).
    appliesTo: STREAM_AND_HTTP,
    arg: 'DURATION[..DURATION]',
    help: 'hold each echo this long (a range is uniform jitter); order is kept',
    parse: parseDelay,
    check(option, value) {
      if (!Array.isArray(value)) throw new InvalidOptionError(option, value, '[min, max] in milliseconds');
      const [min, max] = value as unknown[];
      checkInteger(`${option}[0]`, min, 0, MAX_TIMER_MS);
      checkInteger(`${option}[1]`, max, min as number, MAX_TIMER_MS);
    },
  },
  {
    name: 'throttle',
    option: 'throttleBytesPerSecond',
    // http: each response body goes out at this rate (through the same shaper).
    appliesTo: STREAM_AND_HTTP,
    arg: 'RATE',
    help: 'bytes per second per connection, each direction (e.g. 64KiB/s)',
    parse: parseThrottle,
    check: checkPositive,
  },
  {
    name: 'chunk',
    option: 'chunkBytes',
    appliesTo: STREAM,
    arg: 'N',
    help: 'echo in writes of at most N bytes',
    parse: (text) => parsePositiveInteger('chunk', text),
    check: checkPositive,
  },
  {
    name: 'close-after',
    option: 'closeAfter',
    // http: time= closes the connection that long after it opened, bytes= once that many response
    // bytes went out, each after the response in flight. lines= has no HTTP meaning: refused.
    appliesTo: STREAM_AND_HTTP,
    arg: 'lines=N|bytes=N|time=D',
    help: 'close each connection after that much (reason fault_close_after)',
    parse: parseCloseAfter,
    check(option, after) {
      const expected = '{ lines }, { bytes } or { ms }';
      if (typeof after !== 'object' || after === null) throw new InvalidOptionError(option, after, expected);
      if ('lines' in after) checkPositive(`${option}.lines`, after.lines);
      else if ('bytes' in after) checkPositive(`${option}.bytes`, after.bytes);
      else if ('ms' in after) checkInteger(`${option}.ms`, after.ms, 1, MAX_TIMER_MS);
      else throw new InvalidOptionError(option, after, expected);
    },
    refusedOnHttp: (after) => ('lines' in after ? 'close-after lines=N has no meaning on http listeners (bytes=N and time=D do)' : null),
  },
  {
    name: 'close-how',
    option: 'closeHow',
    appliesTo: STREAM,
    arg: 'fin|rst',
    help: 'how --close-after closes',
    shown: 'fin',
    parse(text) {
      if (text !== 'fin' && text !== 'rst') throw new FaultOptionError(`close-how ${JSON.stringify(text)}: expected fin or rst`);
      return text;
    },
    check(option, value) {
      if (value !== 'fin' && value !== 'rst') throw new InvalidOptionError(option, value, 'fin or rst');
    },
  },
  {
    name: 'accept-then-hang',
    option: 'acceptThenHang',
    appliesTo: STREAM,
    arg: '',
    help: 'accept connections, then never read nor answer',
    parse(text) {
      if (!['', 'true', '1'].includes(text)) throw new FaultOptionError(`accept-then-hang ${JSON.stringify(text)}: expected true`);
      return true;
    },
    // Not checked: only `true` turns it on, anything else leaves it off.
    check() {},
  },
  {
    name: 'refuse-rate',
    option: 'refuseRate',
    // Decided at admission, before any protocol: the same on every connection-oriented listener.
    appliesTo: ['stream', 'http'],
    arg: 'SHARE',
    help: 'close this share (0..1) of new connections at once',
    parse: (text) => parseRate('refuse-rate', text),
    check: checkShare,
  },
  {
    name: 'drop-rate',
    option: 'dropRate',
    appliesTo: UDP,
    arg: 'SHARE',
    help: 'drop this share of datagrams',
    parse: (text) => parseRate('drop-rate', text),
    check: checkShare,
  },
  {
    name: 'duplicate-rate',
    option: 'duplicateRate',
    appliesTo: UDP,
    arg: 'SHARE',
    help: 'answer this share of datagrams twice',
    parse: (text) => parseRate('duplicate-rate', text),
    check: checkShare,
  },
  {
    name: 'reorder-window',
    option: 'reorderWindow',
    appliesTo: UDP,
    arg: 'N',
    help: 'release answers shuffled in groups of N',
    parse: (text) => parsePositiveInteger('reorder-window', text),
    check: checkPositive,
  },
];

const BY_NAME: ReadonlyMap<string, FaultSpec> = new Map(FAULTS.map((spec) => [spec.name, spec]));

/** The fault spelled `name` (flag or URL key), or undefined. */
export function faultNamed(name: string): FaultSpec | undefined {
  return BY_NAME.get(name);
}

/** One fault setting from its flag or URL spelling (`delay`, `20ms..80ms`). Throws FaultOptionError. */
export function parseFault(name: string, text: string): FaultOptions {
  const spec = BY_NAME.get(name);
  if (spec === undefined) throw new FaultOptionError(`unknown fault ${JSON.stringify(name)}`);
  return { [spec.option]: spec.parse(text) };
}

/** Checks library-given faults (`at` names them in errors, e.g. `listeners[0].faults`). Throws InvalidOptionError. */
export function checkFaults(at: string, faults: unknown): void {
  if (typeof faults !== 'object' || faults === null) throw new InvalidOptionError(at, faults, 'an object');
  for (const spec of FAULTS) {
    const value = (faults as Record<string, unknown>)[spec.option];
    if (value !== undefined) spec.check(`${at}.${spec.option}`, value);
  }
}

/** The faults an http or https listener applies. */
export const HTTP_FAULTS: readonly FaultSpec[] = FAULTS.filter((fault) => fault.appliesTo.includes('http'));

/** Why `faults[spec.option]` means nothing on an http listener, or null. */
export function refusedOnHttp(spec: FaultSpec, faults: FaultOptions): string | null {
  const value = faults[spec.option];
  if (value === undefined || !spec.appliesTo.includes('http')) return null;
  return (spec as FaultSpecOf<typeof spec.option> & { refusedOnHttp?: (value: unknown) => string | null }).refusedOnHttp?.(value) ?? null;
}

/** `faults` reduced to what an http listener applies (a value it gives no meaning dropped). */
export function httpFaults(faults: FaultOptions | undefined): FaultOptions | undefined {
  if (faults === undefined) return undefined;
  const kept: Record<string, unknown> = {};
  for (const spec of HTTP_FAULTS)
    if (faults[spec.option] !== undefined && refusedOnHttp(spec, faults) === null) kept[spec.option] = faults[spec.option];
  return Object.keys(kept).length > 0 ? kept : undefined;
}
