// Scenario 2: a 256 MiB "line" with no newline. echod holds at most --max-line-bytes − 1
// bytes of an unfinished line, then closes the connection (`line_too_long`) having echoed
// nothing of it; memory stays bounded. The exact boundary is checked on two more connections:
// max − 1 bytes and a newline come back whole; max − 1 bytes and one more byte close.
import { Client, pump, LOADED_WAIT_MS } from '../../testkit/clients.js';
import { MIB, mib } from './latency.js';
import { BOUNDS, Recorder, runAttack, type ScenarioResult } from './scenario.js';

const OFFERED_BYTES = 256 * MIB;
const WRITE_CHUNK_BYTES = MIB;
const MAX_LINE_BYTES = MIB;
/** The attacker keeps writing after echod's FIN; echod discards until this, then destroys. */
const DRAIN_TIMEOUT_S = 2;
const CLOSE_BOUND_MS = 30_000;
/**
 * What echod may read after it has closed for line_too_long: the line limit, one read, and
 * what the kernel held when the FIN went out are all in `flushedAtEof` already; this is slack.
 */
/** src/connection/connection.ts CLOSE_DISCARD_LIMIT_BYTES (32 MiB) plus one read. */
const READ_AFTER_CLOSE_BOUND = 33 * MIB;

/**
 * Closing sends FIN and then reads and discards the client's input until it finishes or
 * --drain-timeout passes; a client that ignores the FIN is read at full speed all that time.
 */
export const UNBOUNDED_DISCARD =
  'bug: after close() (here line_too_long) NodeConnection.finish() reads and discards whatever the client keeps sending, at full speed, until the client stops or ' +
  '--drain-timeout (10 s by default) passes: no budget, so an attacker that ignores the FIN keeps a core busy and the discarded read buffers (garbage until the next GC) ' +
  'push RSS up by 35–70 MiB (src/transports/node.ts finish, the discard listener)';

export async function endlessLine(): Promise<ScenarioResult> {
  const rec = new Recorder('endless-line', '2. A 256 MiB line with no newline');
  rec.load = `1 client offers ${mib(OFFERED_BYTES)} of "x" with no newline in ${mib(WRITE_CHUNK_BYTES)} writes, and keeps writing after echod's FIN; --max-line-bytes 1MiB; plus 2 boundary probes`;
  const flags = ['--max-line-bytes', '1MiB', '--drain-timeout', `${DRAIN_TIMEOUT_S}s`];
  return runAttack(rec, { flags }, async ({ echod, memory, endAttack }) => {
    const attacker = await Client.connect(echod.port, { waitMs: LOADED_WAIT_MS, allowHalfOpen: true });
    const localPort = attacker.localPort;
    let flushedAtEof = -1;
    let flushedNow = 0;
    let growthAtEof = -1;
    attacker.socket.once('end', () => {
      flushedAtEof = flushedNow;
      growthAtEof = memory.peakBytes - memory.beforeBytes;
    });
    // Deliberately ignores the FIN: an attacker does not stop because it is told to.
    const sent = await pump(attacker.socket, OFFERED_BYTES, Buffer.alloc(WRITE_CHUNK_BYTES, 'x'), {
      waitMs: CLOSE_BOUND_MS,
      onFlushed: (flushed) => (flushedNow = flushed),
    });
    attacker.end();
    await attacker.waitClosed(CLOSE_BOUND_MS);
    await endAttack();
    await echod.until(() => echod.book.closeByRemotePort.has(localPort), "the attacker's close in the log", 5000);
    const close = echod.book.closeByRemotePort.get(localPort);

    rec.figure(
      'bytes the attacker got in',
      `${mib(sent.flushed)} (${sent.flushed === OFFERED_BYTES ? 'all, discarded after the close' : 'until echod destroyed it'})`,
    );
    rec.figure('bytes sent when the FIN arrived (kernel buffers included)', flushedAtEof >= 0 ? mib(flushedAtEof) : 'no FIN');
    rec.figure('bytes echoed to the attacker', attacker.receivedBytes);
    rec.figure('memory growth by the FIN (line_too_long)', growthAtEof >= 0 ? mib(growthAtEof) : 'no FIN');
    rec.figure('memory growth by the end of the attacker (before the probes)', mib(memory.peakBytes - memory.beforeBytes));
    rec.figure('close', close !== undefined ? `${close.reason}${close.forced ? ', forced after the drain timeout' : ''}` : '?');
    rec.equal('closed with reason line_too_long', close?.reason ?? 'no close logged', 'line_too_long');
    rec.equal('nothing of the over-long line is echoed', attacker.receivedBytes, 0);
    rec.check(
      'the FIN came after at least max-line-bytes − 1 bytes',
      flushedAtEof >= MAX_LINE_BYTES - 1,
      `${flushedAtEof} bytes sent at the FIN`,
    );
    rec.check(
      'memory growth up to the close (FIN) under 64 MiB: the unfinished line is bounded',
      growthAtEof >= 0 && growthAtEof < BOUNDS.memoryGrowthBytes,
      growthAtEof >= 0 ? mib(growthAtEof) : 'no FIN',
    );
    const readAfterClose = close !== undefined && flushedAtEof >= 0 ? close.bytesIn - flushedAtEof : Number.NaN;
    rec.figure('bytes echod read (and discarded) after its FIN', Number.isNaN(readAfterClose) ? '?' : mib(readAfterClose));
    rec.check(
      'after closing, echod stops taking the input of a client that ignores its FIN',
      readAfterClose <= READ_AFTER_CLOSE_BOUND,
      `${Number.isNaN(readAfterClose) ? '?' : mib(readAfterClose)} read after the FIN (bound ≤ ${mib(READ_AFTER_CLOSE_BOUND)})`,
    );

    // The boundary, byte-exact: a line of exactly max bytes (newline included) is echoed...
    const exact = await Client.connect(echod.port, { waitMs: LOADED_WAIT_MS });
    const longest = Buffer.concat([Buffer.alloc(MAX_LINE_BYTES - 1, 'y'), Buffer.from('\n')]);
    await exact.write(longest);
    const echoed = await exact.read(longest.length);
    rec.check(
      'a line of exactly --max-line-bytes (newline included) is echoed byte-exact',
      echoed.equals(longest),
      `${echoed.length} bytes back`,
    );
    exact.end();
    await exact.readToEnd();
    // ...and max − 1 bytes are held, but one more byte without a newline is one too many.
    const over = await Client.connect(echod.port, { waitMs: LOADED_WAIT_MS });
    const overPort = over.localPort;
    await over.write(Buffer.alloc(MAX_LINE_BYTES - 1, 'z'));
    await over.write('z');
    const overEcho = await over.readToEnd();
    await echod.until(() => echod.book.closeByRemotePort.has(overPort), "the probe's close in the log", 5000);
    const overClose = echod.book.closeByRemotePort.get(overPort);
    rec.check(
      'max-line-bytes − 1 bytes, then one more: line_too_long, nothing echoed',
      overClose?.reason === 'line_too_long' && overEcho.length === 0,
      `${overClose?.reason ?? 'no close logged'}, ${overEcho.length} bytes echoed`,
    );
    over.destroy();
  });
}
