// Scenario 1: a client sends 256 MiB of lines and never reads its echo. echod must stop
// reading from it (backpressure) instead of queueing the echo, keep its memory bounded, and
// disconnect it (`write_stalled`) once it has taken none of its echo for --write-stall-timeout,
// while other clients are served as before.
import { lineBlock, Client, pump, LOADED_WAIT_MS } from '../../testkit/clients.js';
import { MIB, mib } from './latency.js';
import { Recorder, runAttack, type ScenarioResult } from './scenario.js';

const OFFERED_BYTES = 256 * MIB;
const WRITE_CHUNK_BYTES = MIB;
const LINE_BYTES = 1024;
const WRITE_STALL_TIMEOUT_MS = 2000;
/** The stall deadline fires at most two sweep periods late; this is the whole attack's bound. */
const CLOSE_BOUND_MS = 20_000;

export async function neverReader(): Promise<ScenarioResult> {
  const rec = new Recorder('never-reader', '1. Client sends 256 MiB and never reads');
  rec.load = `1 client offers ${mib(OFFERED_BYTES)} of ${LINE_BYTES}-byte lines in ${mib(WRITE_CHUNK_BYTES)} writes and never reads; --write-stall-timeout ${WRITE_STALL_TIMEOUT_MS / 1000}s`;
  return runAttack(rec, { flags: ['--write-stall-timeout', `${WRITE_STALL_TIMEOUT_MS / 1000}s`] }, async ({ echod, endAttack }) => {
    const attacker = await Client.connect(echod.port, { waitMs: LOADED_WAIT_MS, read: false });
    const localPort = attacker.localPort;
    const started = performance.now();
    const sent = await pump(attacker.socket, OFFERED_BYTES, lineBlock(WRITE_CHUNK_BYTES, LINE_BYTES), { waitMs: CLOSE_BOUND_MS });
    await attacker.waitClosed(CLOSE_BOUND_MS);
    const closedAfterMs = attacker.closedAt - started;
    await endAttack();
    await echod.until(() => echod.book.closeByRemotePort.has(localPort), "the attacker's close in the log", 5000);
    const close = echod.book.closeByRemotePort.get(localPort);

    rec.figure('bytes the kernel took from the attacker', mib(sent.flushed));
    rec.figure('bytes echod read before it stopped reading', close !== undefined ? mib(close.bytesIn) : '?');
    rec.figure('bytes echod echoed (mostly unread, in kernel buffers)', close !== undefined ? mib(close.bytesOut) : '?');
    rec.figure('attacker closed after', `${(closedAfterMs / 1000).toFixed(1)} s (${attacker.error?.code ?? 'no error'})`);
    rec.equal('the attacker is closed with reason write_stalled', close?.reason ?? 'no close logged', 'write_stalled');
    rec.check(
      'echod stopped reading long before 256 MiB (backpressure)',
      sent.flushed < OFFERED_BYTES / 4,
      `${mib(sent.flushed)} of ${mib(OFFERED_BYTES)} taken`,
    );
    rec.atLeast('closed no earlier than the stall timeout', closedAfterMs, WRITE_STALL_TIMEOUT_MS, ' ms');
  });
}
