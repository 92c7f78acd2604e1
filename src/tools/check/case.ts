/**
 * What an `echod check` case is: its settings, its outcome (PASS, FAIL with the reason and the
 * first bytes that differed, or NOTE for what is a server's policy), and the small pieces every
 * case uses to say so.
 */
import type { DigestAlgorithm } from '../digest.js';
import type { Difference } from '../format.js';
import type { Target, TransportSpec } from '../target.js';
import type { WebTarget } from '../web.js';
import type { ClientSet, ConnectionDigest } from './client.js';

export type CaseStatus = 'pass' | 'fail' | 'note';
export type CheckMode = 'line' | 'raw';
export type CaseTransport = 'stream' | 'datagram' | 'http' | 'websocket';

export interface CheckSettings {
  target: Target;
  transport: TransportSpec;
  mode: CheckMode;
  /** The long line of `max-line`, its newline included. */
  maxSize: number;
  idleMs: number;
  /** Bound of every wait in a case. */
  timeoutMs: number;
  /** How many connections `concurrent` opens at once. */
  connections: number;
  /** How much the slow reader sends. */
  slowBytes: number;
  /** Keep each stream connection's digests (echod's `--digest`); null for none. */
  digest: DigestAlgorithm | null;
  /** An http://, https://, ws:// or wss:// target (the web cases), else null. */
  web: WebTarget | null;
}

export interface Outcome {
  status: CaseStatus;
  reason: string;
  difference?: Difference;
  /** With a digest: every stream connection the case opened, in the order they connected. */
  connections?: ConnectionDigest[];
  /**
   * The target could not be reached (refused, unreachable, no answer), or what answered does not
   * speak the protocol (no TLS handshake, not HTTP): why; the run stops here.
   */
  unreachable?: string;
  /** With `unreachable`: the address answered (a connect succeeded), but not in the protocol asked for. */
  reached?: boolean;
}

export interface CheckCase {
  name: string;
  title: string;
  /** Stream cases run over TCP or TLS; datagram cases with --udp; http and websocket ones on URL targets. */
  transport: CaseTransport;
  /** Only in this mode (undefined: both). */
  mode?: CheckMode;
  /** A matter of the server's policy in this mode: observed, never failed (unless bytes are corrupted). */
  policy(mode: CheckMode): boolean;
  run(settings: CheckSettings, clients: ClientSet): Promise<Outcome>;
}

/** A case that cannot go on (no connection, say): its outcome, thrown. */
export class CaseStop extends Error {
  readonly outcome: Outcome;

  constructor(outcome: Outcome) {
    super(outcome.reason);
    this.outcome = outcome;
  }
}

/** The slow reader reads nothing this long (also part of a case's overall guard). */
export const SLOW_PAUSE_MS = 1000;

const FILLER = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

export const pass = (reason: string): Outcome => ({ status: 'pass', reason });
/** The target could not be reached: a FAIL that also stops the run. */
export const unreachable = (reason: string, why: string, reached = false): Outcome => ({
  status: 'fail',
  reason,
  unreachable: why,
  ...(reached ? { reached } : {}),
});
export const fail = (reason: string, diff?: Difference | null): Outcome => ({
  status: 'fail',
  reason,
  ...(diff != null ? { difference: diff } : {}),
});
export const note = (reason: string): Outcome => ({ status: 'note', reason: `observed: ${reason}` });
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `n` filler bytes (no newline), starting at `phase` of the pattern. */
export function filler(n: number, phase = 0): string {
  let out = '';
  while (out.length < n) out += FILLER;
  return (out + FILLER).slice(phase % FILLER.length, (phase % FILLER.length) + n);
}

export function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/** For `policy`: a case that is a rule in every mode. */
export const required = (): boolean => false;
