/**
 * The client side of echod's `--digest`: a running digest of each connection's byte stream, one
 * per direction, made by the same code as the server's (src/core/digest.ts), so that what a tool
 * prints can be compared with the `digest` of echod's close line, where the directions are
 * crossed over (the server's `received` is the client's `sent`).
 *
 * Two shapes, for two callers:
 * - bench's engine folds every batch it writes and every chunk it reads into a running digest
 *   given as ranges of its buffers ({@link StreamDigest}, {@link createDigests}); `none` makes no
 *   digest at all, so its byte path pays one null check per chunk.
 * - check keeps hex digests as echod logs them ({@link HexDigests}, {@link createHexDigests}),
 *   CRC32C or SHA-256.
 */

import { type DigestAlgorithm, StreamDigest as ServerStreamDigest } from '../core/digest.js';

export { DIGEST_ALGORITHMS, type DigestAlgorithm } from '../core/digest.js';

export interface StreamDigest {
  /** Folds in `bytes[start, end)`, in stream order. */
  update(bytes: Uint8Array, start: number, end: number): void;
  /** The digest of everything folded in so far, in hex as echod's close line has it. */
  hex(): string;
}

export interface ConnectionDigests {
  sent: StreamDigest;
  received: StreamDigest;
}

/** Which digest a bench run keeps (`none`: the tools' spelling of echod's `off`). Plain data, so it crosses into worker threads. */
export type DigestKind = 'none' | DigestAlgorithm;

/** The server's own digest (CRC32C or SHA-256), fed ranges of the engine's buffers. */
class RangeDigest implements StreamDigest {
  private readonly digest: ServerStreamDigest;

  constructor(algorithm: DigestAlgorithm) {
    this.digest = new ServerStreamDigest(algorithm);
  }

  update(bytes: Uint8Array, start: number, end: number): void {
    this.digest.update(bytes.subarray(start, end));
  }

  hex(): string {
    return this.digest.hex();
  }
}

export function createDigests(kind: DigestKind): ConnectionDigests | null {
  if (kind === 'none') return null;
  return { sent: new RangeDigest(kind), received: new RangeDigest(kind) };
}

/** One connection's digests in echod's own representation: `hex()` is what its close line says. */
export interface HexDigests {
  readonly algorithm: DigestAlgorithm;
  /** Every byte the client handed to the connection (echod's `received`). */
  readonly sent: ServerStreamDigest;
  /** Every byte the client read from it (echod's `sent`, banner and prefixes included). */
  readonly received: ServerStreamDigest;
}

export function createHexDigests(algorithm: DigestAlgorithm): HexDigests {
  return { algorithm, sent: new ServerStreamDigest(algorithm), received: new ServerStreamDigest(algorithm) };
}
