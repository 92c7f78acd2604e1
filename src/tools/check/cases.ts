/**
 * The conformance cases of `echod check`, in the order they run (stream-cases.ts,
 * datagram-cases.ts), and how one is run: bounded, its clients closed afterwards, and with a
 * digest asked for, every connection's digests taken as the case ends.
 */
import type { TransportSpec } from '../target.js';
import type { WebScheme } from '../web.js';
import { type CheckCase, type CheckMode, type CheckSettings, CaseStop, fail, type Outcome, seconds, SLOW_PAUSE_MS } from './case.js';
import { ClientSet } from './client.js';
import { DATAGRAM_CASES } from './datagram-cases.js';
import { STREAM_CASES } from './stream-cases.js';
import { WEB_CASES } from './web-cases.js';

export type { CaseStatus, CheckCase, CheckMode, CheckSettings, Outcome } from './case.js';

/** Every case, in the order they run. */
export const CASES: readonly CheckCase[] = [...STREAM_CASES, ...DATAGRAM_CASES, ...WEB_CASES];

/** The cases that apply to a transport and mode. */
export function applicableCases(transport: TransportSpec['kind'] | WebScheme, mode: CheckMode): CheckCase[] {
  const kind =
    transport === 'udp'
      ? 'datagram'
      : transport === 'http' || transport === 'https'
        ? 'http'
        : transport === 'ws' || transport === 'wss'
          ? 'websocket'
          : 'stream';
  return CASES.filter((c) => c.transport === kind && (c.mode === undefined || c.mode === mode));
}

/** Runs one case with all its clients closed afterwards; never throws. */
export async function runCase(c: CheckCase, settings: CheckSettings): Promise<Outcome> {
  const clients = new ClientSet();
  // Every wait inside is bounded already; this only guards against a case that forgot to be.
  const guardMs = settings.timeoutMs * 4 + settings.idleMs + SLOW_PAUSE_MS;
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve(fail(`the case did not finish within ${seconds(guardMs)}`)), guardMs);
  });
  let outcome: Outcome;
  try {
    outcome = await Promise.race([c.run(settings, clients), guard]);
  } catch (err) {
    if (err instanceof CaseStop) outcome = err.outcome;
    else outcome = fail(`internal error: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    clearTimeout(timer);
  }
  if (outcome.status === 'fail' && outcome.unreachable === undefined && settings.transport.kind === 'tcp' && settings.web === null) {
    const suspicion = clients.tlsSuspicion();
    if (suspicion !== null) outcome = { ...outcome, reason: `${outcome.reason} (${suspicion})` };
  }
  try {
    // Taken before the connections are closed: what each one sent and got while the case ran.
    return settings.digest === null ? outcome : { ...outcome, connections: clients.digests() };
  } finally {
    clients.destroyAll();
  }
}
