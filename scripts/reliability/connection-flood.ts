// Scenario 4: a connection flood past --max-connections. echod accepts up to the limit and
// closes every connection beyond it at once, counting each in
// echod_connections_rejected_total{reason="max_connections"} but logging them at most a line
// a second; the connections it holds keep echoing; and a freed slot is taken again at once.
import { getMetrics, getStats } from './admin.js';
import { HOST } from '../../testkit/clients.js';
import { mapLimit, Client, LOADED_WAIT_MS } from '../../testkit/clients.js';
import { Recorder, runAttack, type ScenarioResult } from './scenario.js';
import { delay, poll, SCRAPE_POLL_MS } from '../../testkit/wait.js';

const MAX_CONNECTIONS = 500;
const BYSTANDERS = 10;
const FLOOD = 1500;
/** Paced, so the flood lasts a few seconds and the log's once-a-second bound shows. */
const FLOOD_PER_SECOND = 500;
const FLOOD_CONCURRENCY = 300;
const FREED = 100;
const PROBE_WAIT_MS = 10_000;
/** The aggregated rejection log: the first line at once, then at most one summary a second. */
const LOG_WINDOW_MS = 1000;

type Outcome = 'accepted' | 'rejected' | 'no answer';

/** Connects and sends a probe line: accepted if it comes back, rejected if the server closes first. */
async function attempt(port: number, tag: string): Promise<{ peer: Client | null; outcome: Outcome }> {
  let peer: Client;
  try {
    peer = await Client.connect(port, { waitMs: LOADED_WAIT_MS });
  } catch {
    return { peer: null, outcome: 'rejected' };
  }
  const probe = Buffer.from(`${tag}\n`);
  peer.socket.write(probe);
  try {
    await peer.until(() => peer.receivedBytes >= probe.length || peer.ended || peer.closed, PROBE_WAIT_MS, 'the probe echo or a close');
  } catch {
    return { peer, outcome: 'no answer' };
  }
  if (peer.receivedBytes >= probe.length && peer.take().equals(probe)) return { peer, outcome: 'accepted' };
  return { peer, outcome: 'rejected' };
}

export async function connectionFlood(): Promise<ScenarioResult> {
  const rec = new Recorder('connection-flood', '4. Connection flood past --max-connections');
  rec.load = `--max-connections ${MAX_CONNECTIONS} with ${BYSTANDERS} bystanders; ${FLOOD} more connections opened at ${FLOOD_PER_SECOND}/s (up to ${FLOOD_CONCURRENCY} in flight), each sending a probe line; then ${FREED} closed and ${FREED} + 1 reopened`;
  return runAttack(rec, { flags: ['--max-connections', String(MAX_CONNECTIONS)], bystanders: BYSTANDERS }, async ({ echod, endAttack }) => {
    const start = performance.now();
    const results = await mapLimit(FLOOD, FLOOD_CONCURRENCY, async (i) => {
      await delay(start + (i * 1000) / FLOOD_PER_SECOND - performance.now());
      return attempt(echod.port, `flood ${i}`);
    });
    const floodMs = performance.now() - start;
    const held = results.filter((r) => r.outcome === 'accepted').map((r) => r.peer as Client);
    const rejected = results.filter((r) => r.outcome === 'rejected').length;
    const unanswered = results.filter((r) => r.outcome === 'no answer').length;
    const slots = MAX_CONNECTIONS - BYSTANDERS;
    rec.figure(
      'flood',
      `${FLOOD} connections in ${(floodMs / 1000).toFixed(1)} s: ${held.length} accepted, ${rejected} rejected, ${unanswered} unanswered`,
    );
    rec.equal('accepted up to the limit exactly', held.length, slots);
    rec.equal('every other connection rejected (none left hanging)', rejected, FLOOD - slots);

    const metrics = await getMetrics(HOST, echod.adminPort);
    const counted = metrics.sum('echod_connections_rejected_total', { reason: 'max_connections' });
    rec.equal('echod_connections_rejected_total{reason="max_connections"} counts every rejection', counted, rejected);
    rec.equal('echod_connections_active at the limit', metrics.sum('echod_connections_active'), MAX_CONNECTIONS);

    // The held connections are served as before.
    const again = await Promise.all(
      held.map(async (peer, i) => {
        const line = Buffer.from(`still here ${i}\n`);
        try {
          await peer.write(line);
          return (await peer.read(line.length)).equals(line);
        } catch {
          return false;
        }
      }),
    );
    rec.linesLost = again.filter((ok) => !ok).length;
    rec.equal('every held connection still echoes after the flood', again.filter(Boolean).length, held.length);
    await endAttack();

    // The log: a few lines a second however many rejections, and together they count them all.
    await echod.until(() => echod.book.rejectionsLogged >= counted, 'the rejection log to account for every rejection', LOG_WINDOW_MS * 3);
    const allowedLines = 2 + Math.ceil(floodMs / LOG_WINDOW_MS);
    rec.figure('rejection log', `${echod.book.rejectLines} lines for ${counted} rejections (they sum to ${echod.book.rejectionsLogged})`);
    rec.atMost('rejection log lines (at most ~1 a second)', echod.book.rejectLines, allowedLines);
    rec.equal('the rejection log lines sum to the rejections', echod.book.rejectionsLogged, counted);

    // Free slots: they are taken again at once, and no more than that.
    const freed = held.splice(0, FREED);
    const freeStart = performance.now();
    for (const peer of freed) peer.end();
    await Promise.all(freed.map((peer) => peer.waitClosed()));
    let active = -1;
    await poll(
      async () => (active = (await getStats(HOST, echod.adminPort)).connections.active) <= MAX_CONNECTIONS - FREED,
      10_000,
      'the freed slots',
      SCRAPE_POLL_MS,
    );
    rec.figure('slots free (per /stats) after the clients closed', `${Math.round(performance.now() - freeStart)} ms`);
    const refill = await mapLimit(FREED, FREED, (i) => attempt(echod.port, `refill ${i}`));
    const oneTooMany = await attempt(echod.port, 'one too many');
    rec.equal(`${FREED} new connections accepted into the freed slots`, refill.filter((r) => r.outcome === 'accepted').length, FREED);
    rec.equal('and the one after them rejected again', oneTooMany.outcome, 'rejected');
    rec.figure('active after the refill', active + FREED);

    const everyone = [...held, ...refill.map((r) => r.peer), oneTooMany.peer, ...results.map((r) => r.peer)].filter(
      (peer): peer is Client => peer !== null,
    );
    for (const peer of everyone) peer.end();
    await Promise.allSettled(everyone.map((peer) => peer.waitClosed()));
  });
}
