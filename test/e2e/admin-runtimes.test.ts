// The admin endpoint's bounds in the echod binary, under Node and under Bun alike: the --admin-*
// flags set them, a silent socket is closed at --admin-headers-timeout, sockets parked at
// --admin-max-connections never keep /healthz out, pipelined requests are answered in order,
// and a bad bound exits 2 naming its flag.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { request } from '../../testkit/admin-http.js';
import { Client, WAIT_MS } from '../../testkit/clients.js';
import { EchodProcess, RUNTIMES, startEchod, START_MS, Tracked } from '../../testkit/echod-process.js';

const HEADERS_TIMEOUT_MS = 500;
const CAP = 4;
const SLACK_MS = 1000;

describe('admin endpoint bounds in the binary', () => {
  for (const runtime of RUNTIMES) {
    describe(`under ${runtime}`, () => {
      const { processes, clients, track, cleanup } = new Tracked();
      afterEach(cleanup);

      it(
        'closes silent sockets on time, evicts parked ones for probes, answers pipelined requests in order',
        { timeout: START_MS + 4 * WAIT_MS },
        async () => {
          const { echod, adminPort } = await startEchod(
            runtime,
            ['--admin-port', '0', '--admin-headers-timeout', `${HEADERS_TIMEOUT_MS}ms`, '--admin-max-connections', String(CAP)],
            track,
          );
          assert.ok(adminPort !== undefined);
          const listening = await echod.line('admin endpoint listening');
          assert.deepEqual((listening.limits as { maxConnections: number }).maxConnections, CAP);

          const started = performance.now();
          const silent = await Client.connect(adminPort);
          clients.push(silent);
          await silent.waitClosed(HEADERS_TIMEOUT_MS + SLACK_MS);
          const ms = performance.now() - started;
          assert.ok(ms >= HEADERS_TIMEOUT_MS - 50, `closed after ${ms.toFixed(0)} ms, not before ${HEADERS_TIMEOUT_MS} ms`);

          for (let i = 0; i < CAP; i++) clients.push(await Client.connect(adminPort));
          const probeStart = performance.now();
          const probe = await request(adminPort, '/healthz');
          assert.equal(probe.status, 200);
          assert.ok(performance.now() - probeStart < SLACK_MS, 'the probe is answered at once');

          const pipelined = await Client.connect(adminPort);
          clients.push(pipelined);
          const paths = ['/healthz', '/nope', '/readyz', '/healthz'];
          await pipelined.write(
            paths
              .map((path, i) => `GET ${path} HTTP/1.1\r\nHost: a${i === paths.length - 1 ? '\r\nConnection: close' : ''}\r\n\r\n`)
              .join(''),
          );
          const answers = (await pipelined.readToEnd()).toString('latin1');
          assert.deepEqual(
            [...answers.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((match) => Number(match[1])),
            [200, 404, 200, 200],
          );
          assert.equal((await request(adminPort, '/healthz', { method: 'POST', body: 'x' })).status, 405);
        },
      );

      it('a bad bound exits 2 naming its flag', { timeout: START_MS + WAIT_MS }, async () => {
        const echod = new EchodProcess(runtime, ['--admin-port', '0', '--admin-max-connections', '0']);
        processes.push(echod);
        const exit = await echod.exited(START_MS);
        assert.equal(exit.code, 2);
        assert.match(echod.stderr, /--admin-max-connections/);
      });
    });
  }
});
