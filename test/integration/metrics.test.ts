// Prometheus metrics after a known amount of traffic: every echod series has exactly the value
// the traffic implies (connections, closes by reason, rejects, bytes, lines, durations,
// readiness), every reason is there from the start at 0, and prom-client's process metrics
// come along unless turned off.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { createMetrics } from '../../src/observability/metrics.js';
import { createEchoServer } from '../../src/server/server.js';
import { CLOSE_REASONS, type CloseReason, REJECT_REASONS } from '../../src/core/stats.js';
import { AdminFixture } from '../../testkit/admin-http.js';
import { echoes, HOST, WAIT_MS } from '../../testkit/clients.js';
import { parsePrometheus, type Scrape } from '../../testkit/prometheus.js';
import { poll, within } from '../../testkit/wait.js';

const TEST_TIMEOUT_MS = 10_000;
/** Small, so that one test line can break it; counts the newline. */
const MAX_LINE_BYTES = 32;
const MAX_CONNECTIONS = 3;
const VERSION = '0.0.0-metrics-test';

/** Default process metrics the docs promise (prom-client's collectDefaultMetrics). */
const PROCESS_SERIES = ['process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'process_open_fds'] as const;

/** The type each echod series is documented to have (docs/metrics.md). */
const SERIES_TYPES: Readonly<Record<string, string>> = {
  echod_build_info: 'gauge',
  echod_ready: 'gauge',
  echod_connections_active: 'gauge',
  echod_connections_limit: 'gauge',
  echod_connections_total: 'counter',
  echod_connections_closed_total: 'counter',
  echod_connections_forced_total: 'counter',
  echod_connections_rejected_total: 'counter',
  echod_connection_duration_seconds: 'histogram',
  echod_bytes_received_total: 'counter',
  echod_bytes_sent_total: 'counter',
  echod_lines_total: 'counter',
  echod_internal_errors_total: 'counter',
};

describe('metrics', { timeout: TEST_TIMEOUT_MS }, () => {
  let fixture: AdminFixture | undefined;
  /** `labels` and the fixture's listener: the connection, byte and line series are per listener. */
  const at = (labels: Record<string, string> = {}): Record<string, string> => ({
    ...labels,
    listener: `tcp://${HOST}:${(fixture as AdminFixture).echo.port}`,
  });
  afterEach(async () => {
    await fixture?.cleanup();
    fixture = undefined;
  });

  it('the test parser reads labels, escapes and special values', () => {
    const scrape = parsePrometheus(
      [
        '# HELP a_total A counter.',
        '# TYPE a_total counter',
        'a_total{reason="x",other="q\\"uote\\\\ and\\nnewline"} 3',
        'a_total{reason="y"} 1.5e3',
        'b_bucket{le="+Inf"} 7',
        'c 42 1700000000000',
        'd NaN',
        'e Nan',
        'f -Inf',
        '',
      ].join('\n'),
    );
    assert.equal(scrape.types.get('a_total'), 'counter');
    assert.equal(scrape.value('a_total', { reason: 'x', other: 'q"uote\\ and\nnewline' }), 3);
    assert.equal(scrape.value('a_total', { reason: 'y' }), 1500);
    assert.equal(scrape.value('b_bucket', { le: '+Inf' }), 7);
    assert.equal(scrape.value('c'), 42);
    assert.ok(Number.isNaN(scrape.value('d')));
    assert.ok(Number.isNaN(scrape.value('e')), 'as Prometheus reads it, NaN in any case');
    assert.equal(scrape.value('f'), -Infinity);
    assert.throws(() => scrape.value('a_total'), /expected one series/, 'labels must match exactly');
    assert.throws(() => scrape.value('absent'), /found 0/);
    assert.throws(() => parsePrometheus('bad{reason="x} 1'), /not terminated/);
    assert.throws(() => parsePrometheus('x one'), /bad value/);
  });

  it('after known traffic, every echod series has exactly the value that traffic implies', async () => {
    const started = performance.now();
    fixture = await AdminFixture.start({ maxConnections: MAX_CONNECTIONS, maxLineBytes: MAX_LINE_BYTES }, { version: VERSION });
    const { echo } = fixture;
    const { server, events } = echo;
    let received = 0;
    let sent = 0;
    let lines = 0;
    const closedBy: Partial<Record<CloseReason, number>> = {};
    const count = (reason: CloseReason): void => {
      closedBy[reason] = (closedBy[reason] ?? 0) + 1;
    };

    // Three clients fill the connection limit; a fourth is rejected.
    const polite = [await echo.connect(), await echo.connect(), await echo.connect()];
    const extra = await echo.client().catch((err: NodeJS.ErrnoException) => {
      assert.equal(err.code, 'ECONNRESET', 'a rejected client may see a reset at connect');
      return null;
    });
    await events.until(() => events.rejects.length === 1, WAIT_MS, 'the fourth connection to be rejected');
    await extra?.waitClosed();
    assert.deepEqual(events.rejects, ['max_connections']);

    // Each sends four lines of different sizes, reads them back, and closes.
    for (const [i, client] of polite.entries()) {
      const text = Array.from({ length: 4 }, (_, j) => `c${i} l${j} ${'.'.repeat(3 * i + 5 * j)}\n`).join('');
      await echoes(client, text);
      received += text.length;
      sent += text.length;
      lines += 4;
      client.end();
      assert.equal((await client.readToEnd()).length, 0);
      count('client_closed');
    }
    await events.closed(3);

    // One line too long: the line before it is echoed, it and what follows are not.
    const offender = await echo.connect();
    const offence = `ok\n${'x'.repeat(MAX_LINE_BYTES * 2)}\nnever echoed\n`;
    await offender.write(offence);
    assert.equal((await offender.readToEnd()).toString(), 'ok\n');
    await events.closed(4);
    received += offence.length;
    sent += 'ok\n'.length;
    lines += 1;
    count('line_too_long');

    // One reset, after a whole line and half of another.
    const resetter = await echo.connect();
    await echoes(resetter, 'before reset\n');
    await resetter.write('partial');
    received += 'before reset\npartial'.length;
    sent += 'before reset\n'.length;
    lines += 1;
    await poll(() => server.stats.bytesReceived === received, 2000, 'the server to read the partial line');
    resetter.socket.resetAndDestroy();
    await events.closed(5);
    count('reset');

    // And one still open.
    const open = await echo.connect();
    await echoes(open, 'still open\n');
    received += 'still open\n'.length;
    sent += 'still open\n'.length;
    lines += 1;

    const res = await fixture.get('/metrics');
    const elapsedSeconds = (performance.now() - started) / 1000;
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], fixture.registry.contentType);
    const scrape = parsePrometheus(res.body);

    assert.equal(scrape.value('echod_connections_total', at()), 6, 'accepted: 3 polite + offender + resetter + open');
    assert.equal(scrape.value('echod_connections_active', at()), 1);
    for (const reason of CLOSE_REASONS) {
      assert.equal(scrape.value('echod_connections_closed_total', at({ reason })), closedBy[reason] ?? 0, `closed, reason ${reason}`);
    }
    assert.equal(scrape.value('echod_connections_rejected_total', at({ reason: 'max_connections' })), 1);
    assert.equal(scrape.value('echod_connections_rejected_total', at({ reason: 'max_connections_per_ip' })), 0);
    assert.equal(scrape.value('echod_connections_forced_total', at()), 0);
    assert.equal(scrape.value('echod_bytes_received_total', at()), received);
    assert.equal(scrape.value('echod_bytes_sent_total', at()), sent);
    assert.equal(scrape.value('echod_lines_total', at()), lines);
    assert.equal(scrape.value('echod_internal_errors_total'), 0);
    assert.equal(scrape.value('echod_connection_duration_seconds_count', at()), 5, 'one observation per closed connection');
    assert.equal(scrape.value('echod_connection_duration_seconds_bucket', at({ le: '+Inf' })), 5);
    const durationSum = scrape.value('echod_connection_duration_seconds_sum', at());
    assert.ok(durationSum > 0 && durationSum <= 5 * elapsedSeconds, `duration sum ${durationSum} s within the test's ${elapsedSeconds} s`);
    assert.equal(scrape.value('echod_ready'), 1);
    assert.equal(scrape.value('echod_connections_limit'), MAX_CONNECTIONS);
    assert.equal(scrape.value('echod_build_info', { version: VERSION, mode: 'line' }), 1);
    for (const [name, type] of Object.entries(SERIES_TYPES)) assert.equal(scrape.types.get(name), type, `# TYPE ${name}`);
    for (const name of PROCESS_SERIES) {
      const [sample] = scrape.all(name);
      assert.ok(sample !== undefined, `${name} is exported`);
      assert.ok(Number.isFinite(sample.value) && sample.value >= 0, `${name} = ${sample.value}`);
    }
    assert.ok(scrape.value('process_resident_memory_bytes') > 0);
    assert.ok(scrape.value('process_open_fds') > 0);
  });

  it('every reason is exported at 0 before anything happens', async () => {
    fixture = await AdminFixture.start();
    const scrape = parsePrometheus((await fixture.get('/metrics')).body);
    for (const reason of CLOSE_REASONS)
      assert.equal(scrape.value('echod_connections_closed_total', at({ reason })), 0, `closed, reason ${reason}`);
    for (const reason of REJECT_REASONS)
      assert.equal(scrape.value('echod_connections_rejected_total', at({ reason })), 0, `rejected, reason ${reason}`);
    for (const name of [
      'echod_connections_total',
      'echod_connections_forced_total',
      'echod_connections_active',
      'echod_bytes_received_total',
      'echod_bytes_sent_total',
      'echod_lines_total',
    ]) {
      assert.equal(scrape.value(name, at()), 0, name);
    }
    assert.equal(scrape.value('echod_connection_duration_seconds_count', at()), 0);
    assert.equal(scrape.value('echod_connection_duration_seconds_bucket', at({ le: '+Inf' })), 0);
    assert.equal(scrape.has('echod_tls_handshakes_total'), false, 'no handshake series without a tls or https listener');
    assert.equal(scrape.value('echod_build_info', { version: 'unknown', mode: 'line' }), 1, 'version defaults to unknown');
  });

  it('the byte and line totals never go down when connections close', async () => {
    fixture = await AdminFixture.start();
    const { echo } = fixture;
    const client = await echo.connect();
    await echoes(client, 'one\ntwo\n');
    const whileOpen = parsePrometheus((await fixture.get('/metrics')).body);
    client.end();
    await client.readToEnd();
    await echo.events.closed(1);
    const afterClose = parsePrometheus((await fixture.get('/metrics')).body);
    for (const name of ['echod_bytes_received_total', 'echod_bytes_sent_total', 'echod_lines_total']) {
      assert.equal(afterClose.value(name, at()), whileOpen.value(name, at()), `${name} kept the closed connection's counts`);
    }
    assert.equal(afterClose.value('echod_bytes_received_total', at()), 'one\ntwo\n'.length);
    assert.equal(afterClose.value('echod_lines_total', at()), 2);
    assert.equal(whileOpen.value('echod_connections_active', at()), 1);
    assert.equal(afterClose.value('echod_connections_active', at()), 0);
  });

  it('raw mode: build_info says so, bytes are counted, lines stay 0', async () => {
    fixture = await AdminFixture.start({ mode: 'raw' });
    const client = await fixture.echo.connect();
    const text = 'no newline, still echoed; then one\n';
    await echoes(client, text);
    const scrape = parsePrometheus((await fixture.get('/metrics')).body);
    assert.equal(scrape.value('echod_build_info', { version: 'unknown', mode: 'raw' }), 1);
    assert.equal(scrape.value('echod_bytes_received_total', at()), text.length);
    assert.equal(scrape.value('echod_bytes_sent_total', at()), text.length);
    assert.equal(scrape.value('echod_lines_total', at()), 0);
  });

  it('echod_ready is 0 before listen(), 1 while listening, and 0 from the moment close() begins', async () => {
    const server = createEchoServer({ host: HOST, port: 0, shutdownDelayMs: 300 });
    const registry = createMetrics(server, { processMetrics: false });
    const ready = async (): Promise<number> => parsePrometheus(await registry.metrics()).value('echod_ready');
    try {
      assert.equal(await ready(), 0, 'idle');
      await server.listen();
      assert.equal(await ready(), 1, 'listening');
      const closing = server.close();
      assert.equal(server.state, 'stopping');
      assert.equal(await ready(), 0, 'stopping: still accepting, no longer ready');
      await within(closing, WAIT_MS, 'server.close()');
      assert.equal(await ready(), 0, 'closed');
    } finally {
      await server.close();
    }
  });

  it('labels go on every series; processMetrics: false leaves out the process series', async () => {
    const labels = { server_id: 'echod-test-0' };
    fixture = await AdminFixture.start({}, { labels, processMetrics: false });
    const scrape: Scrape = parsePrometheus((await fixture.get('/metrics')).body);
    assert.ok(scrape.samples.length > 0);
    for (const sample of scrape.samples) assert.equal(sample.labels.server_id, labels.server_id, `${sample.name} has the label`);
    assert.equal(scrape.value('echod_ready', labels), 1);
    assert.equal(scrape.value('echod_connections_closed_total', at({ ...labels, reason: 'shutdown' })), 0);
    for (const name of PROCESS_SERIES) assert.equal(scrape.has(name), false, `${name} is left out`);
    assert.equal(
      scrape.samples.some((sample) => !sample.name.startsWith('echod_')),
      false,
      'only echod series',
    );
  });
});
