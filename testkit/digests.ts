// Reference digests for the --digest suites, written apart from src/core/digest.ts so the client's
// side of a comparison does not share the server's code: a bit-at-a-time CRC32C (the
// definition, eight shifts per byte) and node:crypto's SHA-256.
import { createHash } from 'node:crypto';

/** The reflected Castagnoli polynomial (RFC 3720, appendix B.4). */
const CASTAGNOLI_REFLECTED = 0x82f63b78;

/** CRC32C by its definition: slow, obviously right, and independent of the table-driven one. */
export function crc32cReference(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ CASTAGNOLI_REFLECTED : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** The digest of `data` as echod reports it: 8 hex digits (crc32c) or 64 (sha256). */
export function digestHex(algorithm: 'crc32c' | 'sha256', data: Uint8Array): string {
  if (algorithm === 'sha256') return createHash('sha256').update(data).digest('hex');
  return crc32cReference(data).toString(16).padStart(8, '0');
}
