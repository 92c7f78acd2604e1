// The status page's data: buildStatus() from a stats snapshot, StatusFeed's one-sample-per-tick
// sharing and sorted capped pages, and the routes' headers and refusals on a real admin port.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CLOSE_REASONS, REJECT_REASONS, type ServerStats, zeroCounts } from '../../src/core/stats.js';
import { RateHistory } from '../../src/observability/history.js';
import { buildStatus, runtimeName } from '../../src/observability/status-data.js';
import { STATUS_MAX_PAGE_SIZE, StatusFeed } from '../../src/observability/status-feed.js';
import { STATUS_CSP } from '../../src/observability/status-routes.js';
import { AdminFixture, request } from '../../testkit/admin-http.js';

const ABOUT = { version: '9.9.9', runtime: 'node v20.0.0', pid: 42 };
const EMPTY_HISTORY = { t: [], connections: [], lines: [], bytesIn: [], bytesOut: [] };

function stats(overrides: Partial<ServerStats> = {}): ServerStats {
  return {
    serverId: 'edge-1',
    state: 'listening',
    shutdown: null,
    ready: true,
    startedAt: '2026-01-01T00:00:00.000Z',
    connections: {
      active: 3,
      peak: 7,
      limit: 100,
      total: 12,
      closed: { ...zeroCounts(CLOSE_REASONS), client_closed: 9 },
      forced: 0,
      rejected: { ...zeroCounts(REJECT_REASONS), tls_error: 2 },
    },
    bytesReceived: 500,
    bytesSent: 400,
    lines: 20,
    internalErrors: 0,
    listeners: [
      {
        url: 'tcp://127.0.0.1:7',
        protocol: 'tcp',
        mode: 'line',
        proxyProtocol: 'optional',
        tls: null,
        active: 3,
        total: 12,
        bytesReceived: 100,
        bytesSent: 100,
        lines: 20,
        udp: null,
      },
    ],
    udp: {
      received: 1,
      echoed: 1,
      bytesReceived: 4,
      bytesSent: 4,
      dropped: { rate_limited: 0, reflection_port: 0, fault_drop: 0 },
      duplicated: 0,
    },
    ...overrides,
  };
}

const START = Date.parse('2026-01-01T00:00:00.000Z');

describe('buildStatus', () => {
  it('carries identity, uptime, counts, listeners and TLS handshake failures', () => {
    const status = buildStatus({ stats: stats(), about: ABOUT, workers: null, history: EMPTY_HISTORY, now: START + 90_500 });
    assert.deepEqual(status.server, {
      id: 'edge-1',
      version: '9.9.9',
      runtime: 'node v20.0.0',
      pid: 42,
      startedAt: '2026-01-01T00:00:00.000Z',
      uptimeSeconds: 90,
      state: 'listening',
      ready: true,
      shutdown: null,
    });
    assert.deepEqual(status.connections, { active: 3, peak: 7, limit: 100, total: 12, forced: 0 });
    assert.equal(status.tlsHandshakeFailures, 2);
    assert.equal(status.closed.client_closed, 9);
    assert.deepEqual(status.traffic, { bytesIn: 500, bytesOut: 400, lines: 20 });
    assert.equal(status.listeners[0]?.proxyProtocol, 'optional');
    assert.equal(status.workers, null);
    assert.equal(status.generatedAt, new Date(START + 90_500).toISOString());
  });

  it('counts down to the listeners closing while stopping, then to the forced close while draining', () => {
    const now = START + 10_000;
    const stopping = buildStatus({
      stats: stats({ state: 'stopping', ready: false, shutdown: { acceptingUntil: new Date(now + 4200).toISOString(), forcedAt: null } }),
      about: ABOUT,
      workers: null,
      history: EMPTY_HISTORY,
      now,
    });
    assert.deepEqual(stopping.server.shutdown, { next: 'stop_accepting', at: new Date(now + 4200).toISOString(), secondsLeft: 5 });
    const draining = buildStatus({
      stats: stats({
        state: 'draining',
        ready: false,
        shutdown: { acceptingUntil: new Date(now).toISOString(), forcedAt: new Date(now + 30_000).toISOString() },
      }),
      about: ABOUT,
      workers: null,
      history: EMPTY_HISTORY,
      now,
    });
    assert.deepEqual(draining.server.shutdown, { next: 'force_close', at: new Date(now + 30_000).toISOString(), secondsLeft: 30 });
    const late = buildStatus({
      stats: stats({
        state: 'draining',
        ready: false,
        shutdown: { acceptingUntil: new Date(now).toISOString(), forcedAt: new Date(now - 1).toISOString() },
      }),
      about: ABOUT,
      workers: null,
      history: EMPTY_HISTORY,
      now,
    });
    assert.equal(late.server.shutdown?.secondsLeft, 0);
  });

  it('names the runtime it runs on', () => {
    assert.match(runtimeName(), process.versions.bun !== undefined ? /^bun / : /^node v\d+/);
  });
});

describe('StatusFeed', () => {
  it('asks the source once per tick however many viewers ask, and feeds the history from it', async () => {
    const now = START;
    let asked = 0;
    const source = {
      stats: () => {
        asked++;
        return Promise.resolve(stats({ connections: { ...stats().connections, total: asked * 10 } }));
      },
      connections: () => Promise.resolve([]),
    };
    const feed = new StatusFeed(source, ABOUT, new RateHistory(10, () => now), () => now);
    const bodies = await Promise.all(Array.from({ length: 10 }, () => feed.status()));
    assert.equal(asked, 1, 'ten viewers, one stats call');
    assert.equal(new Set(bodies).size, 1);
    assert.equal(await feed.status(), bodies[0], 'cached until the next tick');
    assert.equal(asked, 1);
  });

  it('never serves a sample from before the last change of state (the first is taken before the listeners are up)', async () => {
    const source: { state: ServerStats['state']; stats: () => Promise<ServerStats>; connections: () => Promise<object[]> } = {
      state: 'idle',
      stats: () => Promise.resolve(stats({ state: source.state, ready: source.state === 'listening' })),
      connections: () => Promise.resolve([]),
    };
    const feed = new StatusFeed(source, ABOUT);
    const stateOf = async (): Promise<unknown> => (JSON.parse(await feed.status()) as { server: { state: unknown } }).server.state;
    assert.equal(await stateOf(), 'idle');
    source.state = 'listening';
    assert.equal(await stateOf(), 'listening', 'sampled again within the tick');
    source.state = 'stopping';
    assert.equal(await stateOf(), 'stopping');
  });

  it('serves sorted pages of the open connections, capped, from one snapshot per tick', async () => {
    let snapshots = 0;
    const rows = Array.from({ length: 250 }, (_, i) => ({
      id: i + 1,
      remote: { address: '127.0.0.1', port: 40_000 + ((i * 7) % 250) },
      bytesIn: (i * 37) % 101,
    }));
    const source = {
      stats: () => Promise.resolve(stats()),
      connections: () => {
        snapshots++;
        return Promise.resolve(rows);
      },
    };
    const feed = new StatusFeed(source, ABOUT);
    const page = JSON.parse(await feed.connections({ sort: 'bytesIn', descending: true, offset: 0, limit: 10_000 })) as {
      total: number;
      limit: number;
      connections: { id: number; bytesIn: number }[];
    };
    assert.equal(page.total, 250);
    assert.equal(page.limit, STATUS_MAX_PAGE_SIZE);
    assert.equal(page.connections.length, STATUS_MAX_PAGE_SIZE);
    const values = page.connections.map((row) => row.bytesIn);
    assert.deepEqual(
      values,
      [...values].sort((a, b) => b - a),
    );
    const last = JSON.parse(await feed.connections({ sort: 'remote', descending: false, offset: 240, limit: 50 })) as {
      connections: unknown[];
    };
    assert.equal(last.connections.length, 10);
    assert.equal(snapshots, 1, 'both pages from one snapshot');
  });
});

describe('status routes on the admin port', () => {
  it('serve the page, its assets and feeds with a strict CSP and nosniff, for GET and HEAD only', async (t) => {
    const fixture = await AdminFixture.start();
    t.after(() => fixture.cleanup());
    const port = fixture.adminAddress.port;
    for (const path of [
      '/',
      '/status',
      '/status/app.js',
      '/status/app.css',
      '/status/uplot.min.js',
      '/status/uplot.min.css',
      '/api/status',
      '/api/connections',
    ]) {
      const response = await request(port, path);
      assert.equal(response.status, 200, `${path}: ${response.body}`);
      assert.equal(response.headers['content-security-policy'], STATUS_CSP, path);
      assert.equal(response.headers['x-content-type-options'], 'nosniff', path);
    }
    const page = await request(port, '/');
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.doesNotMatch(
      page.body,
      /<script>|<style>|\bstyle=|\bon[a-z]+=|https?:\/\//,
      'no inline script or style, nothing from elsewhere',
    );
    const head = await request(port, '/status', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal((await request(port, '/', { method: 'POST' })).status, 405);
    const status = JSON.parse((await request(port, '/api/status')).body) as { server: { state: string }; listeners: unknown[] };
    assert.equal(status.server.state, 'listening');
    assert.equal(status.listeners.length, 1);
    assert.equal((await request(port, '/api/connections?sort=secret')).status, 400);
    assert.equal((await request(port, '/api/connections?limit=-1')).status, 400);
  });

  it('is a few hundred KiB at most, everything included', async (t) => {
    const fixture = await AdminFixture.start();
    t.after(() => fixture.cleanup());
    let total = 0;
    for (const path of ['/', '/status/app.js', '/status/app.css', '/status/uplot.min.js', '/status/uplot.min.css']) {
      total += Buffer.byteLength((await request(fixture.adminAddress.port, path)).body);
    }
    assert.ok(total < 200 * 1024, `page weighs ${Math.round(total / 1024)} KiB`);
    t.diagnostic(`status page: ${(total / 1024).toFixed(1)} KiB`);
  });
});
