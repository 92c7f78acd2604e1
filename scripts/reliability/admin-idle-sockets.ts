// Scenario: sockets that hold admin slots without asking anything. 200 silent sockets (three
// times the 64 cap), 20 that send a request head one byte a second, and 20 keep-alive clients
// that go quiet after one answer, all on the admin port for 8 s, while /healthz and /readyz are
// probed. Silent and slow ones must be closed at --admin-headers-timeout (or evicted earlier by
// a newcomer at the cap), quiet keep-alive ones at --admin-keep-alive-timeout, and every probe
// answered within 1 s.
import { getMetrics } from './admin.js';
import { mapLimit, Client, LOADED_WAIT_MS } from '../../testkit/clients.js';
import { HOST } from '../../testkit/clients.js';
import { Probes } from './probes.js';
import { Recorder, runAttack, type ScenarioResult } from './scenario.js';
import { delay } from '../../testkit/wait.js';

const SILENT = 200;
const SLOW = 20;
const KEEP_ALIVE = 20;
const HEADERS_TIMEOUT_MS = 5000;
const KEEP_ALIVE_TIMEOUT_MS = 5000;
const SLOW_BYTE_MS = 1000;
const ATTACK_MS = 8000;
/** A timer on a busy 2-core machine fires this late at most. */
const TIMER_SLACK_MS = 1000;
const HEAD = 'GET /healthz HTTP/1.1\r\nHost: slow\r\n\r\n';

export async function adminIdleSockets(): Promise<ScenarioResult> {
  const rec = new Recorder('admin-idle-sockets', '9. Admin port: idle, slow-header and quiet keep-alive sockets');
  rec.load = `${SILENT} silent sockets, ${SLOW} sending a request head 1 byte/s, ${KEEP_ALIVE} keep-alive clients quiet after one answer, on the admin port (cap 64) for ${ATTACK_MS / 1000} s; /healthz and /readyz probed every 200 ms`;
  const flags = [
    '--admin-headers-timeout',
    `${HEADERS_TIMEOUT_MS / 1000}s`,
    '--admin-keep-alive-timeout',
    `${KEEP_ALIVE_TIMEOUT_MS / 1000}s`,
  ];
  return runAttack(rec, { flags }, async ({ echod, endAttack }) => {
    const probes = new Probes(echod.adminPort);
    const start = performance.now();
    const keepAlive = await mapLimit(KEEP_ALIVE, KEEP_ALIVE, async () => {
      const peer = await Client.connect(echod.adminPort, { waitMs: LOADED_WAIT_MS });
      await peer.write('GET /healthz HTTP/1.1\r\nHost: quiet\r\n\r\n');
      await peer.until(() => peer.receivedBytes > 0, 5000, 'the first answer');
      return { peer, answeredAt: performance.now() };
    });
    const slow = await mapLimit(SLOW, SLOW, () => Client.connect(echod.adminPort, { waitMs: LOADED_WAIT_MS }));
    const silent = await mapLimit(SILENT, 50, async () => ({
      peer: await Client.connect(echod.adminPort, { waitMs: LOADED_WAIT_MS }),
      at: performance.now(),
    }));
    for (let sent = 0; sent < HEAD.length && performance.now() - start < ATTACK_MS; sent++) {
      for (const peer of slow) if (!peer.closed && !peer.ended) peer.socket.write(HEAD[sent] as string);
      await delay(SLOW_BYTE_MS);
    }
    await Promise.allSettled(
      [...slow, ...silent.map((s) => s.peer), ...keepAlive.map((k) => k.peer)].map((peer) =>
        peer.waitEndOrClose(HEADERS_TIMEOUT_MS + 2 * TIMER_SLACK_MS),
      ),
    );
    await endAttack();
    await probes.stop(rec);

    const metrics = await getMetrics(HOST, echod.adminPort);
    const closed = (reason: string): number => metrics.sum('echod_admin_connections_closed_total', { reason });
    rec.figure(
      'admin closes by reason',
      `headers_timeout ${closed('headers_timeout')}, keep_alive_timeout ${closed('keep_alive_timeout')}, evicted ${closed('evicted')}, refused ${closed('refused')}`,
    );
    const lateSilent = silent.filter(
      ({ peer, at }) => !(peer.ended || peer.closed) || peer.endedAt - at > HEADERS_TIMEOUT_MS + TIMER_SLACK_MS,
    ).length;
    rec.equal(
      `silent sockets: every one closed within ${HEADERS_TIMEOUT_MS + TIMER_SLACK_MS} ms (header timeout, or evicted at the cap)`,
      lateSilent,
      0,
    );
    const slowClosed = slow.filter((peer) => peer.ended || peer.closed).length;
    rec.equal('slow-header sockets: every one closed by the header timeout, its head never complete', slowClosed, SLOW);
    const keepAliveTimes = keepAlive.filter(({ peer }) => peer.ended).map(({ peer, answeredAt }) => peer.endedAt - answeredAt);
    rec.figure(
      'quiet keep-alive sockets closed after (ms idle)',
      keepAliveTimes.length > 0 ? `${Math.round(Math.min(...keepAliveTimes))}–${Math.round(Math.max(...keepAliveTimes))}` : 'none',
    );
    rec.equal(
      'quiet keep-alive sockets: every one closed (keep-alive timeout, or evicted at the cap)',
      keepAlive.filter(({ peer }) => peer.ended || peer.closed).length,
      KEEP_ALIVE,
    );
    rec.equal('no probe refused at the cap (echod_admin_connections_closed_total{reason="refused"})', closed('refused'), 0);
    for (const peer of [...slow, ...silent.map((s) => s.peer), ...keepAlive.map((k) => k.peer)]) peer.destroy();
  });
}
