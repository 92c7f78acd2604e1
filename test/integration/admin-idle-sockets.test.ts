// The admin endpoint against sockets that hold a slot without asking anything: one that sends
// nothing and one that sends its head a byte a second are closed at the header timeout (5 s by
// default, to the timer, not at a 30 s sweep); a keep-alive connection is closed once idle past
// its timeout; and the cap's 64 idle sockets never keep /healthz or /readyz out — a newcomer
// evicts the longest-waiting idle one.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { InvalidOptionError } from '../../src/core/errors.js';
import { AdminServer } from '../../src/observability/admin.js';
import { ADMIN_DEFAULTS } from '../../src/observability/admin-limits.js';
import { silentLogger } from '../../src/core/log.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { createEchoServer } from '../../src/server/server.js';
import { AdminFixture } from '../../testkit/admin-http.js';
import { Client, WAIT_MS } from '../../testkit/clients.js';
import { parsePrometheus } from '../../testkit/prometheus.js';

/** Slack for a timer on a busy 2-core machine (the bound it checks is 5 s, node:http's was 30). */
const TIMER_SLACK_MS = 1000;
/** A probe must be answered within this (the kubelet's default timeout is 1 s). */
const PROBE_MS = 1000;
const SLOW_BYTE_MS = 1000;
const HEAD = 'GET /healthz HTTP/1.1\r\nHost: probe\r\n\r\n';

describe('admin endpoint: idle, slow and parked sockets', () => {
  let fixture: AdminFixture | undefined;
  const clients: Client[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await fixture?.cleanup();
    fixture = undefined;
  });

  async function connect(port: number): Promise<Client> {
    const client = await Client.connect(port);
    clients.push(client);
    return client;
  }

  /** GET `path` on a fresh connection; resolves with its status and how long it took. */
  async function timed(path: string): Promise<{ status: number; ms: number }> {
    const start = performance.now();
    const res = await (fixture as AdminFixture).get(path);
    return { status: res.status, ms: performance.now() - start };
  }

  async function closedTotal(reason: string): Promise<number> {
    const scrape = parsePrometheus((await (fixture as AdminFixture).get('/metrics')).body);
    return scrape.value('echod_admin_connections_closed_total', { reason });
  }

  it(
    'a socket that sends nothing, and one that sends its head a byte a second, are closed at the 5 s header timeout',
    { timeout: ADMIN_DEFAULTS.headersTimeoutMs + 4 * TIMER_SLACK_MS + WAIT_MS },
    async () => {
      fixture = await AdminFixture.start();
      const start = performance.now();
      const silent = await connect(fixture.adminPort);
      const slow = await connect(fixture.adminPort);
      // One byte a second: every byte is progress, none extends the deadline.
      const trickle = (async () => {
        for (const byte of HEAD) {
          if (slow.closed || slow.ended) return;
          slow.socket.write(byte);
          await new Promise((resolve) => setTimeout(resolve, SLOW_BYTE_MS));
        }
      })();
      await silent.waitClosed(ADMIN_DEFAULTS.headersTimeoutMs + 2 * TIMER_SLACK_MS);
      const silentMs = performance.now() - start;
      const answer = (await slow.readToEnd(ADMIN_DEFAULTS.headersTimeoutMs + 2 * TIMER_SLACK_MS)).toString('latin1');
      const slowMs = performance.now() - start;
      await trickle;
      for (const [who, ms] of [
        ['silent', silentMs],
        ['slow', slowMs],
      ] as const) {
        assert.ok(
          ms >= ADMIN_DEFAULTS.headersTimeoutMs - 50 && ms <= ADMIN_DEFAULTS.headersTimeoutMs + TIMER_SLACK_MS,
          `${who} socket closed after ${ms.toFixed(0)} ms (header timeout ${ADMIN_DEFAULTS.headersTimeoutMs} ms)`,
        );
      }
      assert.match(answer, /^HTTP\/1\.1 408 /, 'the slow head is told why');
      assert.equal(await closedTotal('headers_timeout'), 2);
    },
  );

  it('a keep-alive connection idle past keepAliveTimeoutMs is closed', { timeout: WAIT_MS * 2 }, async () => {
    const keepAliveTimeoutMs = 300;
    fixture = await AdminFixture.start({}, {}, { keepAliveTimeoutMs });
    const client = await connect(fixture.adminPort);
    await client.write(HEAD);
    const head = (await client.read(HEAD.length)).toString('latin1');
    assert.match(head, /^HTTP\/1\.1 200 /);
    const answeredAt = performance.now();
    await client.waitClosed(keepAliveTimeoutMs + TIMER_SLACK_MS);
    const idleMs = performance.now() - answeredAt;
    assert.ok(idleMs >= keepAliveTimeoutMs - 50, `closed after ${idleMs.toFixed(0)} ms idle, not before ${keepAliveTimeoutMs} ms`);
    assert.equal(await closedTotal('keep_alive_timeout'), 1);
  });

  it(
    'with the cap (64) held by idle sockets, /healthz and /readyz are answered within 1 s: the longest-waiting idle one is evicted',
    { timeout: WAIT_MS * 3 },
    async () => {
      fixture = await AdminFixture.start();
      const parked: Client[] = [];
      for (let i = 0; i < ADMIN_DEFAULTS.maxConnections; i++) parked.push(await connect(fixture.adminPort));
      for (let round = 0; round < 3; round++) {
        for (const path of ['/healthz', '/readyz']) {
          const { status, ms } = await timed(path);
          assert.equal(status, 200, path);
          assert.ok(ms < PROBE_MS, `${path} answered in ${ms.toFixed(0)} ms`);
        }
      }
      // The oldest parked socket went first; a probe's own connection (Connection: close) frees its slot.
      await (parked[0] as Client).waitClosed();
      assert.equal((parked[ADMIN_DEFAULTS.maxConnections - 1] as Client).closed, false, 'the newest parked socket is still open');
      assert.ok((await closedTotal('evicted')) >= 1);
      assert.equal(await closedTotal('refused'), 0);
    },
  );

  it('a head larger than maxHeaderBytes is answered 431 and closed', { timeout: WAIT_MS * 2 }, async () => {
    fixture = await AdminFixture.start();
    const client = await connect(fixture.adminPort);
    await client.write(`GET /healthz HTTP/1.1\r\nx-filler: ${'a'.repeat(ADMIN_DEFAULTS.maxHeaderBytes)}\r\n\r\n`);
    assert.match((await client.readToEnd()).toString('latin1'), /^HTTP\/1\.1 431 /);
    assert.equal(await closedTotal('header_too_large'), 1);
  });

  it('a GET that announces a body is answered 400 and closed: its bytes are never read as a head', { timeout: WAIT_MS * 2 }, async () => {
    fixture = await AdminFixture.start();
    const client = await connect(fixture.adminPort);
    const smuggled = 'GET /metrics HTTP/1.1\r\n\r\n';
    await client.write(`GET /healthz HTTP/1.1\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`);
    const answer = (await client.readToEnd()).toString('latin1');
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.equal(answer.match(/HTTP\/1\.1 /g)?.length, 1, 'one answer only');
  });

  it('a bad bound is an InvalidOptionError naming it', () => {
    const echo = createEchoServer({ port: 0 });
    const registry = createMetrics(echo, { processMetrics: false });
    for (const [option, value] of [
      ['maxConnections', 0],
      ['headersTimeoutMs', -1],
      ['maxHeaderBytes', 10],
      ['keepAliveTimeoutMs', 1.5],
    ] as const) {
      assert.throws(
        () => new AdminServer({ echo, registry, logger: silentLogger, [option]: value }),
        (err: unknown) => err instanceof InvalidOptionError && err.code === 'ERR_ECHOD_INVALID_OPTION' && err.option === option,
      );
    }
  });
});
