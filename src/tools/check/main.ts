/**
 * `echod check [host:port]`: a conformance suite for an echo server, or for anything in front of
 * one (a proxy, a TLS terminator). Runs the cases (cases.ts) one after another, prints
 * PASS / FAIL / NOTE for each with its reason, and exits 0 only if no case failed. With
 * `--digest`, each connection's digests of what it sent and received are printed too, to be
 * compared with the `digest` of echod's close lines (`--digest` on the server).
 */
import type { DigestAlgorithm } from '../digest.js';
import { count, type Difference, plural } from '../format.js';
import { parseToolArgs } from '../flags.js';
import { EXIT_FAILURE, EXIT_OK } from '../../core/exit-codes.js';
import { endQuietlyOnBrokenPipe, processIo, type ToolIo, usageError } from '../io.js';
import { formatTarget, resolveTarget, type Target, transportName, type TransportSpec } from '../target.js';
import { applicableCases, type CaseStatus, type CheckMode, type CheckSettings, runCase } from './cases.js';
import type { ConnectionDigest } from './client.js';
import { CHECK_FLAGS, checkHelp, type CheckOptions, resolveCheckOptions } from './options.js';
import { formatWebTarget, type WebScheme, webTransportName } from '../web.js';

export interface CaseResult {
  name: string;
  title: string;
  status: CaseStatus;
  /** False for cases that are policy in this mode (their result is at worst a NOTE, unless bytes were corrupted). */
  required: boolean;
  reason: string;
  difference?: Difference;
  durationMs: number;
  /** With `--digest`: each stream connection the case opened, its bytes and digests. */
  connections?: ConnectionDigest[];
}

export interface CheckResult {
  ok: boolean;
  target: string;
  transport: TransportSpec['kind'] | WebScheme;
  mode: CheckMode;
  /** With `--digest`: the algorithm of every case's `connections[].digest`. */
  digest?: DigestAlgorithm;
  passed: number;
  failed: number;
  notes: number;
  cases: CaseResult[];
  /** Why nothing (or not everything) could be checked: the host does not resolve, or cannot be reached. */
  error?: string;
  /** The cases not run because the target could not be reached. */
  notRun?: string[];
}

const LABELS: Readonly<Record<CaseStatus, string>> = { pass: 'PASS', fail: 'FAIL', note: 'NOTE' };

export async function checkMain(argv: readonly string[], io: ToolIo = processIo()): Promise<number> {
  endQuietlyOnBrokenPipe(io);
  let options: CheckOptions;
  try {
    const parsed = parseToolArgs(CHECK_FLAGS, argv);
    if (parsed.help) {
      io.stdout.write(`${checkHelp()}\n`);
      return EXIT_OK;
    }
    options = resolveCheckOptions(parsed.values, parsed.positionals);
  } catch (err) {
    return usageError(io, 'check', err);
  }
  let target: Target;
  try {
    target = await resolveTarget(options.target.host, options.target.port);
  } catch (err) {
    const message = (err as Error).message;
    if (options.json) io.stdout.write(`${JSON.stringify({ ok: false, target: shownTarget(options), error: message })}\n`);
    else io.stderr.write(`echod check: ${message}\n`);
    return EXIT_FAILURE;
  }
  const settings: CheckSettings = {
    target,
    transport: options.transport,
    mode: options.mode,
    maxSize: options.maxSize,
    idleMs: options.idleMs,
    timeoutMs: options.timeoutMs,
    connections: options.connections,
    slowBytes: options.slowBytes,
    digest: options.digest,
    web: options.web,
  };
  const transportShown = options.web !== null ? webTransportName(options.web) : transportName(options.transport);
  const cases = applicableCases(options.web?.scheme ?? options.transport.kind, options.mode).filter(
    (c) => options.cases === null || options.cases.includes(c.name),
  );
  if (!options.json) {
    const what = options.web !== null ? transportShown : `${transportShown}, ${options.mode} mode`;
    io.stdout.write(
      `echod check ${shownTarget(options)}: ${what}, ${plural(cases.length, 'case')}, each wait at most ${options.timeoutMs / 1000} s\n`,
    );
    if (options.digest !== null) io.stdout.write(`${digestLegend(options.digest)}\n`);
    io.stdout.write('\n');
  }

  const results: CaseResult[] = [];
  let notRun: string[] = [];
  let stopped: string | null = null;
  const nameWidth = Math.max(...cases.map((c) => c.name.length));
  for (const c of cases) {
    const started = performance.now();
    const outcome = await runCase(c, settings);
    const result: CaseResult = {
      name: c.name,
      title: c.title,
      status: outcome.status,
      required: !c.policy(options.mode),
      reason: outcome.reason,
      durationMs: Math.round(performance.now() - started),
      ...(outcome.difference !== undefined ? { difference: outcome.difference } : {}),
      ...(outcome.connections !== undefined ? { connections: outcome.connections } : {}),
    };
    results.push(result);
    if (!options.json) io.stdout.write(`${row(result, nameWidth)}\n`);
    if (outcome.unreachable !== undefined) {
      // Every other case would fail the same way, each after its own wait: one message instead.
      notRun = cases.slice(results.length).map((other) => other.name);
      const what = `${where(target)} over ${transportShown}: ${outcome.unreachable}`;
      stopped = `${outcome.reached === true ? what : `cannot reach ${what}`}${notRun.length > 0 ? `; the other ${notRun.length} case${notRun.length === 1 ? ' was' : 's were'} not run` : ''}`;
      break;
    }
  }

  const tally = (status: CaseStatus): number => results.filter((r) => r.status === status).length;
  const result: CheckResult = {
    ok: tally('fail') === 0,
    target: shownTarget(options),
    transport: options.web?.scheme ?? options.transport.kind,
    mode: options.mode,
    ...(options.digest !== null ? { digest: options.digest } : {}),
    passed: tally('pass'),
    failed: tally('fail'),
    notes: tally('note'),
    cases: results,
    ...(stopped !== null ? { error: stopped, notRun } : {}),
  };
  if (options.json) io.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    const notes = result.notes > 0 ? `, ${result.notes} observation${result.notes === 1 ? '' : 's'} (NOTE)` : '';
    const skipped = notRun.length > 0 ? `, ${notRun.length} not run` : '';
    if (stopped !== null) io.stderr.write(`echod check: ${stopped}\n`);
    io.stdout.write(`\n${result.passed} passed, ${result.failed} failed${notes}${skipped}: ${result.ok ? 'OK' : 'FAIL'}\n`);
  }
  return result.ok ? EXIT_OK : EXIT_FAILURE;
}

/** The target as reports name it: `127.0.0.1:8080`, or the URL of a web target. */
function shownTarget(options: CheckOptions): string {
  return options.web !== null ? formatWebTarget(options.web) : formatTarget(options.target);
}

/** `127.0.0.1:8080`, or `echo.example.net:8080 (192.0.2.7)` for a name. */
function where(target: Target): string {
  const shown = formatTarget(target);
  return target.address === target.host ? shown : `${shown} (${target.address})`;
}

function row(result: CaseResult, nameWidth: number): string {
  const time = result.durationMs >= 1000 ? `${(result.durationMs / 1000).toFixed(1)} s` : `${result.durationMs} ms`;
  const lines = [`  ${LABELS[result.status]}  ${result.name.padEnd(nameWidth)}  ${result.title} (${time})`];
  // Under the title: two spaces, the four-letter label, two spaces, the name, two spaces.
  const indent = ' '.repeat(10 + nameWidth);
  lines.push(`${indent}${result.reason}`);
  if (result.difference !== undefined) {
    const at = `at byte ${count(result.difference.offset)}: `;
    lines.push(`${indent}${at}expected ${result.difference.expected}`);
    lines.push(`${indent}${' '.repeat(at.length)}got      ${result.difference.got}`);
  }
  for (const connection of result.connections ?? []) lines.push(`${indent}${digestLine(connection)}`);
  return lines.join('\n');
}

/** What the per-connection digest lines mean, printed once above the table. */
function digestLegend(algorithm: DigestAlgorithm): string {
  return [
    `  ${algorithm} of each connection: "from" is the client's address and port (echod's "remote" and "remotePort"`,
    '  unless a proxy is in between); check\'s "sent" is the "received" of echod\'s close line and "received" its "sent".',
  ].join('\n');
}

/** One connection's digests: `from 127.0.0.1:40312  sent 33 B 1a2b3c4d  received 33 B 1a2b3c4d`. */
function digestLine(connection: ConnectionDigest): string {
  const { digest } = connection;
  return `${digest.algorithm} from ${connection.local}  sent ${count(connection.bytesSent)} B ${digest.sent}  received ${count(connection.bytesReceived)} B ${digest.received}`;
}
