// Scenario: pipelined admin requests that are never read. With 2,000 echo connections open (so
// a full /connections answer would be ~1 MB), 4 clients each send 3,000 pipelined
// `GET /connections` to the admin port and never read. The admin endpoint must stop reading a
// connection while its answer is unsent and page /connections, so the attack costs one read
// chunk and one page per attacker: memory stays flat, the echo bystanders do not notice, probes
// keep being answered, and each attacker is closed at --admin-request-timeout.
import { getMetrics } from './admin.js';
import { mapLimit, Client, LOADED_WAIT_MS } from '../../testkit/clients.js';
import { HOST } from '../../testkit/clients.js';
import { Probes } from './probes.js';
import { Recorder, runAttack, type ScenarioResult } from './scenario.js';
import { poll, SCRAPE_POLL_MS } from '../../testkit/wait.js';

const ECHO_CONNECTIONS = 2000;
const ATTACKERS = 4;
const PIPELINED = 3000;
const REQUEST_TIMEOUT_MS = 3000;
const CONNECT_CONCURRENCY = 100;
/** The figure for echo bystanders while the admin port is attacked. */
const BYSTANDER_WORST_MS = 50;

export async function adminPipelining(): Promise<ScenarioResult> {
  const rec = new Recorder('admin-pipelining', '8. Admin port: pipelined requests never read');
  rec.load = `${ECHO_CONNECTIONS} idle echo connections; ${ATTACKERS} admin clients each send ${PIPELINED} pipelined GET /connections and never read; /healthz and /readyz probed every 200 ms`;
  const flags = ['--admin-request-timeout', `${REQUEST_TIMEOUT_MS}ms`];
  return runAttack(
    rec,
    { flags, latencyBounds: { p99Ms: BYSTANDER_WORST_MS, maxMs: BYSTANDER_WORST_MS } },
    async ({ echod, beginAttack, endAttack }) => {
      const idle = await mapLimit(ECHO_CONNECTIONS, CONNECT_CONCURRENCY, () => Client.connect(echod.port, { waitMs: LOADED_WAIT_MS }));
      // Opening them is setup, not the attack: bystanders are timed from here.
      await beginAttack();
      const probes = new Probes(echod.adminPort);
      const request = Buffer.from('GET /connections HTTP/1.1\r\nHost: attacker\r\n\r\n'.repeat(PIPELINED));
      const attackers = await mapLimit(ATTACKERS, ATTACKERS, () =>
        Client.connect(echod.adminPort, { waitMs: LOADED_WAIT_MS, read: false }),
      );
      for (const attacker of attackers) attacker.socket.write(request);
      // Each attacker is closed once its answers have stalled for the request timeout.
      let timedOut = 0;
      await poll(
        async () =>
          (timedOut = (await getMetrics(HOST, echod.adminPort)).sum('echod_admin_connections_closed_total', {
            reason: 'request_timeout',
          })) >= ATTACKERS,
        REQUEST_TIMEOUT_MS + 10_000,
        'every attacker closed at the request timeout',
        SCRAPE_POLL_MS,
      ).catch(() => undefined);
      await endAttack();
      await probes.stop(rec);
      rec.equal(
        'attackers closed at --admin-request-timeout (echod_admin_connections_closed_total{reason="request_timeout"})',
        timedOut,
        ATTACKERS,
      );
      const requests = (await getMetrics(HOST, echod.adminPort)).sum('echod_admin_requests_total', { code: '200' });
      rec.figure(
        'admin answers built for the attackers (of the requests sent)',
        `${requests} of ${ATTACKERS * PIPELINED} (probes and scrapes included)`,
      );
      for (const attacker of attackers) attacker.destroy();
      for (const peer of idle) peer.end();
      await Promise.allSettled(idle.map((peer) => peer.waitClosed(10_000)));
      for (const peer of idle) peer.destroy();
    },
  );
}
