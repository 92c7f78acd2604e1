/**
 * Parsing of human-written sizes (`64KiB`, `1MiB`) and durations (`500ms`, `30s`, `5m`).
 * Pure functions: a string in, a non-negative integer out, or a RangeError-free `undefined`
 * when the text is not a size or duration at all (the caller names the option in its error).
 */

/** Node's timers hold at most 2^31-1 ms (about 24.8 days); longer ones fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1000,
  kb: 1000,
  kib: 1024,
  m: 1000 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1000 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i;
const DURATION_RE = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/i;

/**
 * `"64KiB"` → 65536, `"1MiB"` → 1048576, `"1500"` → 1500 (bytes). Decimal units (kB, MB)
 * are powers of 1000, binary units (KiB, MiB) powers of 1024. Returns `undefined` for
 * anything else, including negative numbers and results that are not whole bytes.
 */
export function parseBytes(text: string): number | undefined {
  const match = SIZE_RE.exec(text.trim());
  if (match === null) return undefined;
  const [, amount = '', unit = ''] = match;
  const factor = SIZE_UNITS[unit.toLowerCase()];
  if (factor === undefined) return undefined;
  const bytes = Number(amount) * factor;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/**
 * `"500ms"` → 500, `"30s"` → 30000, `"5m"` → 300000, `"0"` → 0. A bare number other than 0
 * is ambiguous and is refused: every non-zero duration names its unit.
 */
export function parseDurationMs(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^0+(?:\.0+)?$/.test(trimmed)) return 0;
  const match = DURATION_RE.exec(trimmed);
  if (match === null) return undefined;
  const [, amount = '', unit = ''] = match;
  const factor = DURATION_UNITS_MS[unit.toLowerCase()];
  if (factor === undefined) return undefined;
  const ms = Number(amount) * factor;
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/**
 * 1048576 → "1MiB", 1536 → "1536B": whole units only, so the text parses back to the same
 * number. Used in help text and logs, so sizes read the way they are written.
 */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1 && value % 1024 === 0) {
    value /= 1024;
    unit++;
  }
  return `${value}${units[unit]}`;
}

/** 300000 → "5m", 1500 → "1500ms"; the inverse of {@link parseDurationMs} for whole units. */
export function formatDurationMs(ms: number): string {
  if (ms === 0) return '0';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
