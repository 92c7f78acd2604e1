/**
 * How a bench exchange can go wrong: the kinds of error a run counts, what each means, and
 * which socket errors count as which kind.
 */
import { connectErrorText, notTlsReason } from '../connect-errors.js';
import type { Difference } from '../format.js';
import { isResetError, isTlsError } from '../target.js';

/** Every way an exchange can go wrong, in the order reports list them. */
export const ERROR_KINDS = [
  'mismatch',
  'truncated',
  'extra',
  'reset',
  'timeout',
  'connect',
  'tls',
  'unexpected',
  'lost',
  'late',
  'other',
] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];
export type ErrorCounts = Record<ErrorKind, number>;

/** What each kind means, for `--help`, reports and docs. */
export const ERROR_MEANINGS: Readonly<Record<ErrorKind, string>> = {
  mismatch: 'an echoed byte differed from the byte sent',
  truncated: 'the server closed the connection before echoing everything sent',
  extra: 'the server sent bytes that were never sent to it',
  reset: 'the connection was reset (ECONNRESET, EPIPE)',
  timeout: `no echo for --timeout while messages were outstanding (or a connect took that long)`,
  connect: 'a (re)connect failed (refused, unreachable); UDP: ICMP port unreachable',
  tls: 'the TLS handshake failed (certificate, protocol)',
  unexpected: 'UDP: a datagram that matches no outstanding message (a duplicate, or one too late to be recognised)',
  lost: 'UDP: no echo within the loss deadline (from the round trips seen, 200 ms to --timeout); the socket sends the next (reported, but does not fail the run)',
  late: 'UDP: the echo of a datagram already counted lost (reported, but does not fail the run)',
  other: 'any other socket error',
};

/** Kinds that do not fail a run: UDP promises no delivery. */
export const NON_FATAL_KINDS: ReadonlySet<ErrorKind> = new Set<ErrorKind>(['lost', 'late']);

export function zeroErrors(): ErrorCounts {
  return Object.fromEntries(ERROR_KINDS.map((kind) => [kind, 0])) as ErrorCounts;
}

/** One error, described, for the report (the first few of a run are kept). */
export interface ErrorSample {
  kind: ErrorKind;
  connection: number;
  /** The message's sequence number on its connection, when one is concerned. */
  seq?: number;
  message: string;
  difference?: Difference;
}

/** The initial connections could not all be made: the run does not start. */
export class ConnectError extends Error {
  readonly code = 'ERR_ECHOD_BENCH_CONNECT';
}

/** A socket error in words, as check says it (connect-errors.ts). */
export function describeError(err: NodeJS.ErrnoException): string {
  return connectErrorText(err);
}

/** Which kind a socket error counts as. */
export function classify(err: NodeJS.ErrnoException, connecting: boolean): ErrorKind {
  if (isTlsError(err) || notTlsReason(err) !== null) return 'tls';
  if (isResetError(err)) return 'reset';
  if (err.code === 'ETIMEDOUT') return 'timeout';
  if (connecting || err.code === 'ECONNREFUSED' || err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH') return 'connect';
  return 'other';
}
