// `echod --workers 2`, the built binary end to end: a primary that forks two worker processes
// sharing one port, answers the admin endpoint for all of them, restarts a worker that dies
// and drains them all on SIGTERM. Under Node in full; under Bun, a smoke case (echoes and
// drains). Every process of a pool is killed after its test: the primary by its handle, the
// workers by the PIDs they logged.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterEach, describe, it } from 'node:test';
import { Client, freeTcpPort, HOST, WAIT_MS } from '../../testkit/clients.js';
import {
  adminGet,
  alive,
  echoes,
  EchodProcess,
  LEVEL,
  localPort,
  type LogLine,
  metric,
  reporting,
  type Runtime,
  startEchod,
  stats,
  type StatsBody,
  untilStats,
} from '../../testkit/echod-process.js';
import { parsePrometheus } from '../../testkit/prometheus.js';
import { nodeListenReusePort, workersAccept } from '../../src/transports/reuse-port.js';

const WORKERS = 2;
const TEST_TIMEOUT_MS = 30_000;
/** A pool starts WORKERS + 1 runtimes, one after another on a 2-core machine. */
const POOL_START_MS = 20_000;
const CLIENTS = 20;
const LINES_PER_CLIENT = 5;
/** Connections left open on the worker that is killed, and on the one that lives. */
const HELD = 6;
/** The start-up burst (issue 14.9): connections opened as the port starts to accept, and how many starts. */
const BURST = 200;
const BURST_STARTS = 5;

interface Pool {
  echod: EchodProcess;
  port: number;
  adminPort: number;
  /** Each worker's `listening` line, by worker index. */
  workers: LogLine[];
}

const isWorkerLine = (line: LogLine): boolean => typeof line.worker === 'number';

/** The `listening` lines of the workers, the latest per worker index. */
function workerListening(echod: EchodProcess): Map<number, LogLine> {
  const byIndex = new Map<number, LogLine>();
  for (const line of echod.all('listening')) if (isWorkerLine(line)) byIndex.set(line.worker as number, line);
  return byIndex;
}

const countLines = (text: string): number => text.split('\n').length - 1;

/** How this runtime's workers get their connections: each on its own socket, or through the primary. */
const ACCEPT = workersAccept();
/** With SO_REUSEPORT the kernel spreads connections by hash: a few may all land on one worker. Connect at most this many to see both. */
const SPREAD_MAX = 64;

/** Listening TCP sockets on `port` (IPv4 and IPv6), from /proc/net (Linux). */
function listeningSockets(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let count = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const row of readFileSync(file, 'latin1').split('\n').slice(1)) {
      const [, local, , state] = row.trim().split(/\s+/);
      if (state === '0A' && local?.endsWith(`:${hexPort}`) === true) count++;
    }
  }
  return count;
}

describe('which Node binds with SO_REUSEPORT (listen reusePort: 22.12, 23.1 and later)', () => {
  it('by version and system', () => {
    for (const [version, expected] of [
      ['20.19.0', false],
      ['22.11.0', false],
      ['22.12.0', true],
      ['22.23.3', true],
      ['23.0.0', false],
      ['23.1.0', true],
      ['24.0.0', true],
      ['25.2.1', true],
    ] as const) {
      assert.equal(nodeListenReusePort(version, 'linux'), expected, version);
    }
    assert.equal(nodeListenReusePort('24.0.0', 'darwin'), false, 'not documented on macOS');
  });
});

describe('echod --workers', () => {
  const pools: EchodProcess[] = [];
  const clients: Client[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    for (const echod of pools.splice(0)) await echod.stop();
  });

  async function connect(port: number): Promise<Client> {
    const client = await Client.connect(port);
    clients.push(client);
    localPort(client); // remembered while the socket still knows it
    return client;
  }

  /**
   * Starts `echod --workers 2 --admin-port 0` under `runtime` and waits for the primary's
   * `all workers listening` and every worker's own `listening` line.
   */
  async function startPool(runtime: Runtime, extra: readonly string[] = []): Promise<Pool> {
    const { echod, port, adminPort } = await startEchod(
      runtime,
      ['--workers', String(WORKERS), '--admin-port', '0', ...extra],
      (started) => pools.push(started),
      POOL_START_MS,
    );
    assert.ok(adminPort !== undefined);
    const all = await echod.line('all workers listening', POOL_START_MS);
    assert.equal(all.pid, echod.pid, 'the primary says so');
    assert.equal(all.workers, WORKERS);
    // Each worker's log line may reach stdout after the primary's (separate processes).
    await echod.until(() => workerListening(echod).size === WORKERS, `${WORKERS} workers to log "listening"`);
    const workers = [...workerListening(echod).entries()].sort(([a], [b]) => a - b).map(([, line]) => line);
    return { echod, port, adminPort, workers };
  }

  /**
   * `count` clients at once, each sending LINES_PER_CLIENT lines of its own and reading them
   * back exactly, then half-closing and seeing EOF. Resolves to the bytes and lines sent.
   */
  async function exchange(port: number, count: number): Promise<{ clients: Client[]; bytes: number; lines: number }> {
    const connected = await Promise.all(Array.from({ length: count }, () => connect(port)));
    const texts = connected.map((_, i) => Array.from({ length: LINES_PER_CLIENT }, (__, j) => `client ${i} line ${j}\r\n`).join(''));
    await Promise.all(
      connected.map(async (client, i) => {
        await echoes(client, texts[i] as string);
        client.end();
        assert.equal((await client.readToEnd()).length, 0, `client ${i}: EOF after its lines`);
      }),
    );
    return {
      clients: connected,
      bytes: texts.reduce((sum, text) => sum + text.length, 0),
      lines: texts.reduce((sum, text) => sum + countLines(text), 0),
    };
  }

  /** Waits until `count` connections have logged their close (so every counter is final). */
  async function untilClosed(echod: EchodProcess, count: number): Promise<void> {
    await echod.until(() => echod.all('connection closed').length >= count, `${count} "connection closed" lines`);
  }

  /** Which worker served each client, from the workers' `connection opened` lines. */
  async function servedBy(echod: EchodProcess, served: readonly Client[]): Promise<LogLine[]> {
    return Promise.all(served.map((client) => echod.openOf(client)));
  }

  /** A pool that has echoed CLIENTS connections, all closed, served by every worker (so its totals are sums). */
  async function poolAfterTraffic(): Promise<Pool & { traffic: Awaited<ReturnType<typeof exchange>> }> {
    const pool = await startPool('node');
    const traffic = await exchange(pool.port, CLIENTS);
    await untilClosed(pool.echod, CLIENTS);
    const opened = await servedBy(pool.echod, traffic.clients);
    assert.equal(new Set(opened.map((line) => line.worker)).size, WORKERS, 'both workers served, so the totals are sums');
    return { ...pool, traffic };
  }

  /**
   * At least `count` new connections, and more (up to SPREAD_MAX) until `spread(served)` holds:
   * round-robin spreads any `count` of them, SO_REUSEPORT's hash may need a few more.
   */
  async function connectSpread(
    echod: EchodProcess,
    port: number,
    count: number,
    spread: (served: LogLine[]) => boolean,
  ): Promise<{ clients: Client[]; served: LogLine[] }> {
    const connected = await Promise.all(Array.from({ length: count }, () => connect(port)));
    const served = await servedBy(echod, connected);
    while (!spread(served) && connected.length < SPREAD_MAX) {
      const client = await connect(port);
      connected.push(client);
      served.push(await echod.openOf(client));
    }
    assert.ok(
      spread(served),
      `connections spread over the workers within ${SPREAD_MAX}: served by ${served.map((line) => String(line.worker)).join(', ')}`,
    );
    return { clients: connected, served };
  }

  describe('under node', () => {
    it(
      'the primary logs `all workers listening`; with --port 0 every worker binds the same port',
      { timeout: TEST_TIMEOUT_MS },
      reporting(pools, async () => {
        const { echod, port, workers } = await startPool('node');
        assert.deepEqual(
          workers.map((line) => line.worker),
          [0, 1],
        );
        for (const line of workers) {
          assert.equal(line.port, port, `worker ${String(line.worker)} listens on the port the first worker named`);
          assert.equal(line.transport, 'node');
          assert.notEqual(line.pid, echod.pid, 'a worker is its own process');
        }
        assert.equal(new Set(workers.map((line) => line.pid)).size, WORKERS, 'one process per worker');
        assert.ok(!echod.all('listening').some((line) => line.pid === echod.pid), 'the primary serves no echo port itself');
        await echoes(await connect(port), 'served on the shared port\n');
      }),
    );

    it(
      `each worker accepts on its own socket where the runtime offers it (${ACCEPT} here), else the primary relays`,
      { timeout: TEST_TIMEOUT_MS },
      reporting(pools, async () => {
        const { echod, port } = await startPool('node');
        const all = echod.all('all workers listening')[0] as LogLine;
        assert.equal(all.accept, ACCEPT, 'the primary logs which path the workers use');
        // SO_REUSEPORT: one listening socket per worker; round-robin: the primary's alone.
        assert.equal(listeningSockets(port), ACCEPT === 'reuseport' ? WORKERS : 1, `listening sockets on port ${port}`);
        const { clients: spread } = await connectSpread(
          echod,
          port,
          WORKERS,
          (served) => new Set(served.map((line) => line.worker)).size === WORKERS,
        );
        for (const [i, client] of spread.entries()) await echoes(client, `spread ${i}\n`);
      }),
    );

    it(
      `${CLIENTS} connections all echo correctly, spread over the workers`,
      { timeout: TEST_TIMEOUT_MS },
      reporting(pools, async () => {
        const { echod, port } = await startPool('node');
        const traffic = await exchange(port, CLIENTS);
        const opened = await servedBy(echod, traffic.clients);
        const perWorker = new Set(opened.map((line) => line.worker));
        assert.equal(perWorker.size, WORKERS, `every worker served connections (served by ${[...perWorker].join(', ')})`);
        await untilClosed(echod, CLIENTS);
        for (const line of echod.all('connection closed')) assert.equal(line.reason, 'client_closed');
      }),
    );

    it(
      '/stats on the primary sums the workers: workers 2, connection and line totals equal the traffic',
      { timeout: TEST_TIMEOUT_MS },
      reporting(pools, async () => {
        const { adminPort, traffic } = await poolAfterTraffic();

        const body = await stats(adminPort);
        assert.equal(body.workers, WORKERS);
        assert.equal(body.state, 'listening');
        assert.equal(body.ready, true);
        assert.equal(body.connections.total, CLIENTS);
        assert.equal(body.connections.active, 0);
        assert.equal(body.connections.closed.client_closed, CLIENTS);
        assert.equal(body.lines, traffic.lines);
        assert.equal(body.bytesReceived, traffic.bytes);
        assert.equal(body.bytesSent, traffic.bytes);
      }),
    );

    it(
      '/metrics on the primary: echod_lines_total summed over the workers, echod_build_info once',
      { timeout: TEST_TIMEOUT_MS },
      reporting(pools, async () => {
        const { adminPort, traffic } = await poolAfterTraffic();

        const scrape = parsePrometheus(await adminGet(adminPort, '/metrics'));
        assert.equal(metric(scrape, 'echod_lines_total'), traffic.lines);
        assert.equal(metric(scrape, 'echod_connections_total'), CLIENTS);
        assert.equal(metric(scrape, 'echod_bytes_received_total'), traffic.bytes);
        const buildInfo = scrape.all('echod_build_info');
        assert.equal(buildInfo.length, 1, `one echod_build_info series: ${JSON.stringify(buildInfo)}`);
        assert.equal(buildInfo[0]?.value, 1);
      }),
    );

    it(
      'a worker that is killed is restarted: the primary logs it, a new worker listens, echo still works',
      { timeout: TEST_TIMEOUT_MS },
      reporting(pools, async () => {
        const { echod, port, adminPort, workers } = await startPool('node');
        const victim = workers[0] as LogLine;
        const victimPid = victim.pid;
        process.kill(victimPid, 'SIGKILL'); // a worker of the pool this test spawned, by the PID it logged

        const died = await echod.line('worker died; restarting it');
        assert.equal(died.level, LEVEL.error);
        assert.equal(died.worker, victim.worker);
        assert.equal(died.workerPid, victimPid, 'names the process that died');
        assert.equal(died.pid, echod.pid, 'logged by the primary, under its own pid (one pid key per line)');
        assert.equal(echod.all('worker died; restarting it').length, 1, 'one line per exit');
        assert.equal(died.signal, 'SIGKILL');
        const replacement = await echod.log(
          (line) => line.msg === 'listening' && line.worker === victim.worker && line.pid !== victimPid,
          `a new worker ${String(victim.worker)} listening`,
          POOL_START_MS,
        );
        assert.equal(replacement.port, port, 'the new worker binds the same port');
        assert.ok(!alive(victimPid), 'the killed worker is gone');

        // Among a few new connections (round-robin), or a few more (SO_REUSEPORT), the new worker serves some.
        const after = await connectSpread(echod, port, 2 * WORKERS, (served) => served.some((line) => line.pid === replacement.pid));
        for (const [i, client] of after.clients.entries()) await echoes(client, `after restart ${i}\n`);
        assert.equal((await stats(adminPort)).workers, WORKERS, 'both workers answer /stats again');
      }),
    );

    it(
      'a worker killed with connections open: no counter goes backwards, its open connections close as worker_exit, /stats agrees with /metrics',
      { timeout: TEST_TIMEOUT_MS },
      reporting(pools, async () => {
        const { echod, port, adminPort, workers } = await startPool('node');
        const traffic = await exchange(port, CLIENTS);
        await untilClosed(echod, CLIENTS);
        // Connections left open, each with a line echoed: some on every worker (round-robin at once, SO_REUSEPORT within a few more).
        const victim = workers[0] as LogLine;
        const onWorker = (served: LogLine[]): number => served.filter((line) => line.worker === victim.worker).length;
        const { clients: held, served } = await connectSpread(
          echod,
          port,
          HELD,
          (lines) => onWorker(lines) > 0 && onWorker(lines) < lines.length,
        );
        const heldCount = held.length;
        for (const [i, client] of held.entries()) await echoes(client, `held ${i}\n`);
        const onVictim = served.filter((line) => line.worker === victim.worker).map((line) => line.remotePort);
        const before = await untilStats(adminPort, (body) => body.connections.active === heldCount, `${heldCount} open connections`);
        const scrapeBefore = parsePrometheus(await adminGet(adminPort, '/metrics'));

        process.kill(victim.pid, 'SIGKILL'); // a worker of the pool this test spawned, by the PID it logged
        const died = await echod.line('worker died; restarting it');
        assert.equal(died.workerPid, victim.pid);
        assert.equal(died.openConnections, onVictim.length);
        await echod.log(
          (line) => line.msg === 'listening' && line.worker === victim.worker && line.pid !== victim.pid,
          'the new worker listening',
          POOL_START_MS,
        );

        const after = await untilStats(adminPort, (body) => body.workers === WORKERS, 'both workers to answer');
        const scrape = parsePrometheus(await adminGet(adminPort, '/metrics'));
        const grew = (what: string, from: number, to: number): void => assert.ok(to >= from, `${what} went backwards: ${from} → ${to}`);
        grew('/stats connections.total', before.connections.total, after.connections.total);
        grew('/stats lines', before.lines, after.lines);
        grew('/stats bytesReceived', before.bytesReceived, after.bytesReceived);
        grew('echod_connections_total', metric(scrapeBefore, 'echod_connections_total'), metric(scrape, 'echod_connections_total'));
        grew('echod_lines_total', metric(scrapeBefore, 'echod_lines_total'), metric(scrape, 'echod_lines_total'));
        assert.equal(after.connections.total, CLIENTS + heldCount, 'every connection the dead worker served still counts');
        assert.equal(after.lines, traffic.lines + heldCount);
        assert.equal(after.connections.closed.worker_exit, onVictim.length);
        assert.equal(after.connections.active, heldCount - onVictim.length);
        assert.equal((after as StatsBody & { workerRestarts?: number }).workerRestarts, 1);

        // /stats and /metrics say the same.
        assert.equal(metric(scrape, 'echod_connections_total'), after.connections.total);
        assert.equal(metric(scrape, 'echod_lines_total'), after.lines);
        assert.equal(metric(scrape, 'echod_bytes_received_total'), after.bytesReceived);
        assert.equal(metric(scrape, 'echod_connections_active'), after.connections.active);
        assert.equal(metric(scrape, 'echod_connections_closed_total', { reason: 'worker_exit' }), onVictim.length);
        assert.equal(metric(scrape, 'echod_connections_closed_total', { reason: 'client_closed' }), after.connections.closed.client_closed);
        assert.equal(metric(scrape, 'echod_worker_restarts_total'), 1);

        // Each connection the dead worker held is logged as closed, once, by the primary.
        const exits = echod.all('connection closed').filter((line) => line.reason === 'worker_exit');
        assert.deepEqual(exits.map((line) => line.remotePort).sort(), [...onVictim].sort());
        for (const line of exits) assert.equal(line.pid, echod.pid);
      }),
    );

    it(
      `connections that arrive while the workers start are all served: ${BURST} as the port opens, ${BURST_STARTS} starts`,
      { timeout: BURST_STARTS * TEST_TIMEOUT_MS },
      reporting(pools, async () => {
        const failures: string[] = [];
        for (let start = 0; start < BURST_STARTS; start++) {
          // A port of our choosing, so the burst can begin before echod says it listens.
          const port = await freeTcpPort();
          const echod = new EchodProcess('node', [
            '--host',
            HOST,
            '--port',
            String(port),
            '--log-format',
            'json',
            '--workers',
            String(WORKERS),
          ]);
          pools.push(echod);
          await Promise.all(
            Array.from({ length: BURST }, async (_, i) => {
              const client = await Client.connectWhenOpen(port, POOL_START_MS);
              clients.push(client);
              try {
                await echoes(client, `start ${start} client ${i}\n`);
              } catch (err) {
                failures.push(
                  `start ${start} client ${i}: ${(err as Error).message} (${client.error?.code ?? (client.ended ? 'EOF' : 'open')})`,
                );
              }
            }),
          );
          await echod.until(
            () => echod.all('connection opened').length === BURST - failures.length || failures.length > 0,
            'every connection logged',
          );
          assert.deepEqual(echod.all('connection rejected'), [], 'nothing refused');
          for (const client of clients.splice(0)) client.destroy();
          await echod.stop();
        }
        assert.deepEqual(failures, [], 'every connection the port accepted was served');
      }),
    );

    it(
      'SIGTERM to the primary: every worker drains its lines in flight, every process exits, exit code 0',
      { timeout: TEST_TIMEOUT_MS },
      reporting(pools, async () => {
        // debug: each chunk's `message received` line says when a worker has read it.
        const { echod, port, workers } = await startPool('node', ['--log-level', 'debug']);
        const { clients: inFlight } = await connectSpread(
          echod,
          port,
          2 * WORKERS,
          (served) => new Set(served.map((line) => line.worker)).size === WORKERS,
        );
        const sent = inFlight.map(
          (_, i) => `${Array.from({ length: 50 }, (__, j) => `client ${i} line ${j}\n`).join('')}client ${i} unfinished`,
        );
        await Promise.all(inFlight.map((client, i) => client.write(sent[i] as string)));
        const total = sent.reduce((sum, text) => sum + text.length, 0);
        const received = (): number => echod.all('message received').reduce((sum, line) => sum + (line.bytes as number), 0);
        await echod.until(() => received() === total, `the workers to receive all ${total} bytes`);
        const opened = await servedBy(echod, inFlight);
        assert.equal(new Set(opened.map((line) => line.worker)).size, WORKERS, 'every worker has lines in flight');

        echod.signal('SIGTERM');
        const echoed = await Promise.all(inFlight.map((client) => client.readToEnd(WAIT_MS * 2)));
        // The unterminated tails are fragments: at a close echod starts they are not echoed (README, Behaviour).
        const lines = sent.map((text) => text.slice(0, text.lastIndexOf('\n') + 1));
        echoed.forEach((back, i) => assert.equal(back.toString('latin1'), lines[i], `client ${i}: every complete line, then EOF`));
        assert.deepEqual(await echod.exited(WAIT_MS * 2), { code: 0, signal: null });

        for (const worker of workers) {
          const closed = echod.logs.find((line) => line.msg === 'closed' && line.pid === worker.pid);
          assert.ok(closed !== undefined, `worker ${String(worker.worker)} logged its drain totals`);
          assert.ok(!alive(worker.pid), `worker ${String(worker.worker)} (pid ${worker.pid}) exited`);
        }
        const totals = echod.all('closed').reduce((sum, line) => sum + (line.bytesSent as number), 0);
        assert.equal(
          totals,
          total - sent.reduce((sum, text, i) => sum + text.length - (lines[i] as string).length, 0),
          'the workers together echoed every complete line',
        );
        assert.deepEqual(
          echod.all('connection closed').map((line) => line.reason),
          inFlight.map(() => 'shutdown'),
        );
      }),
    );
  });

  describe('under bun', () => {
    it(
      'smoke: --workers 2 listens on one port, echoes, and drains on SIGTERM',
      { timeout: TEST_TIMEOUT_MS },
      reporting(pools, async () => {
        const { echod, port, workers } = await startPool('bun', ['--log-level', 'debug']);
        for (const line of workers) {
          assert.equal(line.port, port);
          assert.equal(line.transport, 'bun');
        }
        assert.equal(new Set(workers.map((line) => line.pid)).size, WORKERS, 'one process per worker');
        const traffic = await exchange(port, 2 * WORKERS);
        assert.equal(traffic.clients.length, 2 * WORKERS);

        const { clients: inFlight } = await connectSpread(
          echod,
          port,
          2 * WORKERS,
          (served) => new Set(served.map((line) => line.worker)).size === WORKERS,
        );
        const sent = inFlight.map((_, i) => `client ${i} first\nclient ${i} second\r\nclient ${i} unfinished`);
        await Promise.all(inFlight.map((client, i) => client.write(sent[i] as string)));
        const total = traffic.bytes + sent.reduce((sum, text) => sum + text.length, 0);
        const received = (): number => echod.all('message received').reduce((sum, line) => sum + (line.bytes as number), 0);
        await echod.until(() => received() === total, `the workers to receive all ${total} bytes`);

        echod.signal('SIGTERM');
        const echoed = await Promise.all(inFlight.map((client) => client.readToEnd(WAIT_MS * 2)));
        // The unterminated tails are fragments: at a close echod starts they are not echoed (README, Behaviour).
        const lines = sent.map((text) => text.slice(0, text.lastIndexOf('\n') + 1));
        echoed.forEach((back, i) => assert.equal(back.toString('latin1'), lines[i], `client ${i}: every complete line, then EOF`));
        assert.deepEqual(await echod.exited(WAIT_MS * 2), { code: 0, signal: null });
        for (const worker of workers) assert.ok(!alive(worker.pid), `worker ${String(worker.worker)} (pid ${worker.pid}) exited`);
      }),
    );
  });
});
