// The admin HTTP endpoint over real requests: /healthz, /readyz (503 from the moment shutdown
// begins, while the echo port still serves), /stats, 404 and 405, HEAD, and its defaults:
// 127.0.0.1 unless told otherwise, and close() that does not wait for idle keep-alive clients.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Agent, request as httpRequest } from 'node:http';
import { Server as NetServer } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { AdminServer } from '../../src/observability/admin.js';
import { silentLogger } from '../../src/core/log.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { createEchoServer } from '../../src/server/server.js';
import { DEFAULTS } from '../../src/config/options.js';
import type { ServerStats } from '../../src/core/stats.js';
import { AdminFixture, request } from '../../testkit/admin-http.js';
import { HOST, WAIT_MS } from '../../testkit/clients.js';
import { within } from '../../testkit/wait.js';

const TEST_TIMEOUT_MS = 10_000;
/** Long enough to make several requests and an echo inside it, short enough for a test. */
const SHUTDOWN_DELAY_MS = 1000;
const ENDPOINTS = ['/metrics', '/healthz', '/readyz', '/stats'] as const;

describe('admin endpoint', { timeout: TEST_TIMEOUT_MS }, () => {
  let fixture: AdminFixture | undefined;
  afterEach(async () => {
    await fixture?.cleanup();
    fixture = undefined;
  });

  it('/healthz answers 200 while the server listens', async () => {
    fixture = await AdminFixture.start();
    const res = await fixture.get('/healthz');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] ?? '', /^text\/plain/);
    assert.equal(res.body, 'ok\n');
  });

  it('/readyz is 503 before the echo server listens and 200 once it does', async () => {
    // The CLI starts the admin endpoint first: a probe in that moment must not see "ready".
    const echo = createEchoServer({ host: HOST, port: 0 });
    const admin = new AdminServer({ echo, registry: createMetrics(echo, { processMetrics: false }), logger: silentLogger });
    try {
      const { port } = await admin.listen();
      const before = await request(port, '/readyz');
      assert.equal(before.status, 503);
      assert.equal(before.body, 'idle\n');
      await echo.listen();
      const after = await request(port, '/readyz');
      assert.equal(after.status, 200);
      assert.equal(after.body, 'ready\n');
    } finally {
      await within(echo.close(), WAIT_MS, 'echo.close()');
      await within(admin.close(), WAIT_MS, 'admin.close()');
    }
  });

  it('/readyz turns 503 the moment close() begins, while /healthz stays 200 and new clients are still served', async () => {
    fixture = await AdminFixture.start({ shutdownDelayMs: SHUTDOWN_DELAY_MS });
    const { echo } = fixture;
    const { server, events } = echo;
    // Never ends its side on its own: it holds the drain open so `draining` can be observed.
    const holder = await echo.connect({ allowHalfOpen: true });
    const ready = await fixture.get('/readyz');
    assert.equal(ready.status, 200);
    assert.equal(ready.body, 'ready\n');

    const closing = server.close();
    const stopping = await fixture.get('/readyz');
    assert.equal(stopping.status, 503, 'not ready from the moment close() begins');
    assert.match(stopping.headers['content-type'] ?? '', /^text\/plain/);
    assert.equal(stopping.body, 'stopping\n');
    const alive = await fixture.get('/healthz');
    assert.equal(alive.status, 200, 'shutting down is no reason to be restarted');
    assert.equal(alive.body, 'ok\n');
    // Not ready, yet still accepting and echoing: the load balancer has time to notice.
    const late = await echo.connect();
    await late.write('served while not ready\n');
    assert.equal(await late.readText('served while not ready\n'), 'served while not ready\n');
    assert.equal((await fixture.get('/readyz')).status, 503);
    assert.equal(server.state, 'stopping', 'all of the above happened within shutdownDelayMs');

    await events.until(() => events.states.includes('draining'), SHUTDOWN_DELAY_MS + WAIT_MS, 'the server to start draining');
    const draining = await fixture.get('/readyz');
    assert.equal(draining.status, 503);
    assert.equal(draining.body, 'draining\n');
    assert.equal((await fixture.get('/healthz')).status, 200, 'still alive while draining');

    assert.equal((await holder.readToEnd()).length, 0, 'the holder sees EOF');
    holder.end();
    await within(closing, WAIT_MS, 'server.close()');
    assert.equal((await late.readToEnd()).length, 0);
  });

  it('/stats is the JSON of server.stats, with the counts of the traffic sent', async () => {
    const beforeListen = Date.now();
    fixture = await AdminFixture.start();
    const afterListen = Date.now();
    const { echo } = fixture;
    const done = await echo.connect();
    await done.write('alpha\nbeta\n');
    assert.equal(await done.readText('alpha\nbeta\n'), 'alpha\nbeta\n');
    done.end();
    assert.equal((await done.readToEnd()).length, 0);
    await echo.events.closed(1);
    const open = await echo.connect();
    await open.write('gamma\n');
    assert.equal(await open.readText('gamma\n'), 'gamma\n');

    const res = await fixture.get('/stats');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] ?? '', /^application\/json/);
    const stats = JSON.parse(res.body) as ServerStats;
    assert.deepEqual(stats, echo.server.stats, 'the same snapshot as server.stats, every field');
    // And the values are those of the traffic above, not just whatever the server holds.
    const bytes = 'alpha\nbeta\ngamma\n'.length;
    assert.equal(stats.state, 'listening');
    assert.equal(stats.ready, true);
    assert.deepEqual(stats.connections, {
      active: 1,
      // The first client had closed before the second connected.
      peak: 1,
      limit: DEFAULTS.maxConnections,
      total: 2,
      closed: {
        client_closed: 1,
        reset: 0,
        line_too_long: 0,
        idle_timeout: 0,
        write_stalled: 0,
        shutdown: 0,
        fault_close_after: 0,
        error: 0,
        worker_exit: 0,
      },
      forced: 0,
      rejected: {
        max_connections: 0,
        max_connections_per_ip: 0,
        proxy_protocol_error: 0,
        tls_error: 0,
        fault_refused: 0,
        not_listening: 0,
      },
    });
    assert.equal(stats.bytesReceived, bytes);
    assert.equal(stats.bytesSent, bytes);
    assert.equal(stats.lines, 3);
    assert.equal(typeof stats.startedAt, 'string');
    const startedAt = Date.parse(stats.startedAt ?? '');
    assert.ok(startedAt >= beforeListen && startedAt <= afterListen, `startedAt ${String(stats.startedAt)} is when listen() ran`);
  });

  it('an unknown path is 404; a query string does not change the path', async () => {
    fixture = await AdminFixture.start();
    // (`/` is the status page.)
    for (const path of ['/nope', '/metrics/extra', '/HEALTHZ']) {
      const res = await fixture.get(path);
      assert.equal(res.status, 404, path);
      assert.match(res.body, /not found/, path);
    }
    const withQuery = await fixture.get('/healthz?probe=kubelet');
    assert.equal(withQuery.status, 200);
    assert.equal(withQuery.body, 'ok\n');
  });

  it('methods other than GET and HEAD are 405 with an allow header, on every path', async () => {
    fixture = await AdminFixture.start();
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      for (const path of [...ENDPOINTS, '/nope']) {
        const res = await fixture.get(path, { method, body: 'x=1' });
        assert.equal(res.status, 405, `${method} ${path}`);
        const allow = (res.headers.allow ?? '').split(',').map((part) => part.trim());
        assert.deepEqual(allow.sort(), ['GET', 'HEAD'], `${method} ${path}: allow header ${JSON.stringify(res.headers.allow)}`);
      }
    }
    // A refused POST changed nothing: the server still reports ready.
    assert.equal((await fixture.get('/readyz')).status, 200);
  });

  it('HEAD answers as GET does, without a body', async () => {
    fixture = await AdminFixture.start();
    for (const path of [...ENDPOINTS, '/nope']) {
      const get = await fixture.get(path);
      const head = await fixture.get(path, { method: 'HEAD' });
      assert.equal(head.status, get.status, path);
      assert.equal(head.headers['content-type'], get.headers['content-type'], path);
      assert.equal(head.body, '', `${path}: no body`);
      assert.notEqual(get.body, '', `${path}: GET has a body`);
    }
  });

  it('binds to 127.0.0.1 unless told otherwise, on a free port', async () => {
    fixture = await AdminFixture.start();
    assert.equal(fixture.adminAddress.address, '127.0.0.1');
    assert.equal(fixture.adminAddress.family, 'IPv4');
    assert.ok(fixture.adminAddress.port > 0);
    assert.notEqual(fixture.adminAddress.port, fixture.echo.port);
    assert.equal((await fixture.get('/healthz')).status, 200, 'reachable on that address');
  });

  it('close() does not wait for idle keep-alive connections and is safe to repeat', async () => {
    fixture = await AdminFixture.start();
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      // The agent's own 'free' listener (added first) has pooled the socket when this fires.
      const freed = once(agent, 'free');
      const status = await within(
        new Promise<number>((resolve, reject) => {
          const req = httpRequest({ host: HOST, port: fixture?.adminPort, path: '/healthz', agent }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          });
          req.on('error', reject);
          req.end();
        }),
        WAIT_MS,
        'GET /healthz with keep-alive',
      );
      assert.equal(status, 200);
      await within(freed, WAIT_MS, 'the socket to return to the agent');
      assert.equal(Object.values(agent.freeSockets).flat().length, 1, 'an idle keep-alive connection is open');

      await within(fixture.admin.close(), 2000, 'admin.close() with an idle keep-alive client');
      await within(fixture.admin.close(), 2000, 'a second admin.close()');
      await assert.rejects(request(fixture.adminPort, '/healthz'), { code: 'ECONNREFUSED' });
    } finally {
      agent.destroy();
    }
  });

  it('close() while listen() is still binding leaves nothing listening', {}, async () => {
    const echo = createEchoServer({ host: HOST, port: 0 });
    const admin = new AdminServer({ echo, registry: createMetrics(echo, { processMetrics: false }), logger: silentLogger });
    try {
      const listening = admin.listen();
      await within(admin.close(), WAIT_MS, 'admin.close()');
      const [listened] = await Promise.allSettled([listening]);
      if (listened.status === 'fulfilled') {
        await assert.rejects(request(listened.value.port, '/healthz'), { code: 'ECONNREFUSED' }, 'nothing listens after close()');
      }
    } finally {
      // With the bug, close() has already returned and cannot stop the listener: stop it here.
      const http: unknown = Reflect.get(admin, 'http');
      const inner: unknown = typeof http === 'object' && http !== null ? Reflect.get(http, 'server') : null;
      if (inner instanceof NetServer && inner.listening) inner.close();
    }
  });
});
