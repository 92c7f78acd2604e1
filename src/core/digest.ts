/**
 * Stream digests for `--digest`: a CRC32C (Castagnoli, as iSCSI and ext4 use; what most tools
 * that print a "crc32c" compute) or a SHA-256 of every byte a connection received and sent, so a
 * client can prove that nothing on the path changed or cut the stream.
 */
import { createHash, type Hash } from 'node:crypto';

/** The digest algorithms, as `--digest` (server and tools) and the close line name them. */
export const DIGEST_ALGORITHMS = ['crc32c', 'sha256'] as const;
export type DigestAlgorithm = (typeof DIGEST_ALGORITHMS)[number];
/** The server's `digest` option: an algorithm, or `off`. */
export const DIGEST_KINDS = ['off', ...DIGEST_ALGORITHMS] as const;
export type DigestKind = (typeof DIGEST_KINDS)[number];

/** Slicing-by-8 tables for the reflected Castagnoli polynomial 0x82F63B78. */
const TABLES: Uint32Array[] = (() => {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  const first = tables[0] as Uint32Array;
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    first[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = first[n] as number;
    for (let t = 1; t < 8; t++) {
      c = (first[c & 0xff] as number) ^ (c >>> 8);
      (tables[t] as Uint32Array)[n] = c >>> 0;
    }
  }
  return tables;
})();

/** Continues a CRC32C over `data` (start with 0). */
export function crc32c(data: Uint8Array, previous = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES as [
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
  ];
  let crc = ~previous >>> 0;
  let i = 0;
  const end8 = data.length - (data.length % 8);
  for (; i < end8; i += 8) {
    const lo =
      (crc ^ ((data[i] as number) | ((data[i + 1] as number) << 8) | ((data[i + 2] as number) << 16) | ((data[i + 3] as number) << 24))) >>>
      0;
    crc =
      (t7[lo & 0xff] as number) ^
      (t6[(lo >>> 8) & 0xff] as number) ^
      (t5[(lo >>> 16) & 0xff] as number) ^
      (t4[lo >>> 24] as number) ^
      (t3[data[i + 4] as number] as number) ^
      (t2[data[i + 5] as number] as number) ^
      (t1[data[i + 6] as number] as number) ^
      (t0[data[i + 7] as number] as number);
  }
  for (; i < data.length; i++) crc = (t0[(crc ^ (data[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return ~crc >>> 0;
}

/** One direction's running digest. */
export class StreamDigest {
  private crc = 0;
  private readonly hash: Hash | null;
  private readonly kind: DigestAlgorithm;

  constructor(kind: DigestAlgorithm) {
    this.kind = kind;
    this.hash = kind === 'sha256' ? createHash('sha256') : null;
  }

  update(data: Uint8Array): void {
    if (this.hash !== null) this.hash.update(data);
    else this.crc = crc32c(data, this.crc);
  }

  /** Hex: 8 digits for crc32c, 64 for sha256. */
  hex(): string {
    if (this.hash !== null) return this.hash.copy().digest('hex');
    return this.crc.toString(16).padStart(8, '0');
  }

  get algorithm(): string {
    return this.kind;
  }
}
