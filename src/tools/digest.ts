/**
 * A running digest of each connection's byte stream, one per direction: the place where the
 * planned per-connection CRC32C (of bytes sent and of bytes received) plugs into bench.
 *
 * The bench engine already calls `update()` on every batch it writes and every chunk it reads,
 * and puts each connection's `value`s in its report; today the only kind is `none`, which
 * makes no digest at all (so the byte path pays one null check per chunk). Adding CRC32C is:
 * a `crc32c` kind here, an implementation of {@link StreamDigest}, and a flag in bench.ts.
 */

import { crc32c } from '../digest.js';

export interface StreamDigest {
  /** Folds in `bytes[start, end)`, in stream order. */
  update(bytes: Uint8Array, start: number, end: number): void;
  /** The digest of everything folded in so far. */
  readonly value: number;
}

export interface ConnectionDigests {
  sent: StreamDigest;
  received: StreamDigest;
}

/** Which digest a run keeps. Plain data, so it crosses into worker threads. */
export type DigestKind = 'none' | 'crc32c';

/** CRC32C (Castagnoli), the same function as the server's `--digest crc32c`. */
class Crc32cDigest implements StreamDigest {
  value = 0;

  update(bytes: Uint8Array, start: number, end: number): void {
    this.value = crc32c(bytes.subarray(start, end), this.value);
  }
}

export function createDigests(kind: DigestKind): ConnectionDigests | null {
  switch (kind) {
    case 'none':
      return null;
    case 'crc32c':
      return { sent: new Crc32cDigest(), received: new Crc32cDigest() };
  }
}
