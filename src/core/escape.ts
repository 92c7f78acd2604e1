/**
 * Bytes as text that is safe to print or log: no client can forge a log line or send a terminal
 * escape through it. Used by the trace log and by the tools' mismatch reports alike.
 */

const ESCAPES: Readonly<Record<number, string>> = { 0x00: '\\0', 0x09: '\\t', 0x0a: '\\n', 0x0d: '\\r', 0x22: '\\"', 0x5c: '\\\\' };

/**
 * Printable ASCII as is; `\n`, `\r`, `\t`, `\0`, quote and backslash as C escapes; every other
 * byte as `\xNN`. Input longer than `max` bytes is cut there and marked with `…`.
 */
export function escapeBytes(bytes: Uint8Array, max = Number.POSITIVE_INFINITY): string {
  const end = Math.min(bytes.length, max);
  let out = '';
  for (let i = 0; i < end; i++) {
    const byte = bytes[i] as number;
    const escaped = ESCAPES[byte];
    if (escaped !== undefined) out += escaped;
    else if (byte >= 0x20 && byte < 0x7f) out += String.fromCharCode(byte);
    else out += `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return end < bytes.length ? `${out}…` : out;
}
