// UDP drops are logged like TCP refusals: the first drop of a reason at once, with who sent it
// and on which listener; the rest summed up in one line per window, never a line per datagram.
// Real datagram sockets on 127.0.0.1, port 0.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { EchoServerOptions } from '../../src/config/options.js';
import { createEchoServer, type EchoServer } from '../../src/server/server.js';
import { HOST, WAIT_MS } from '../../testkit/clients.js';
import { RecordingLogger } from '../../testkit/recording-logger.js';
import { UdpClient } from '../../testkit/udp-client.js';
import { poll, within } from '../../testkit/wait.js';

const TEST_TIMEOUT_MS = 10_000;
const DATAGRAMS = 40;
const MESSAGE = 'udp datagram dropped';

describe('udp drop log lines', () => {
  let server: EchoServer | undefined;
  let client: UdpClient | undefined;
  afterEach(async () => {
    await client?.close();
    await within(server?.close() ?? Promise.resolve(), WAIT_MS, 'server.close()');
    server = client = undefined;
  });

  async function flood(
    options: EchoServerOptions,
    dropped: (server: EchoServer) => number,
    expected: number,
  ): Promise<{ logger: RecordingLogger; port: number }> {
    const logger = new RecordingLogger();
    server = createEchoServer({ ...options, logger });
    await server.listen();
    const address = server.addresses[0];
    assert.ok(address !== undefined && 'port' in address);
    client = await UdpClient.bind(HOST);
    for (let i = 0; i < DATAGRAMS; i++) await client.send(Buffer.from(`datagram ${i}`), address.port, HOST);
    const echod = server;
    await poll(() => dropped(echod) === expected, WAIT_MS, `${expected} drops counted`);
    return { logger, port: address.port };
  }

  function dropLines(logger: RecordingLogger): ReturnType<RecordingLogger['all']> {
    return logger.records.filter((record) => record.msg.startsWith(MESSAGE));
  }

  it('fault_drop: one line for the first drop, then one summary with the count', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { logger, port } = await flood(
      { listeners: [{ protocol: 'udp', host: HOST, port: 0, faults: { dropRate: 1 } }] },
      (s) => s.stats.udp.dropped.fault_drop,
      DATAGRAMS,
    );
    const [first, ...rest] = dropLines(logger);
    assert.ok(first !== undefined, 'the first drop is logged at once');
    assert.equal(rest.length, 0, 'no line per datagram');
    assert.equal(first.level, 'warn');
    assert.equal(first.msg, MESSAGE);
    assert.equal(first.fields.reason, 'fault_drop');
    assert.equal(first.fields.remote, HOST);
    assert.equal(first.fields.remotePort, client?.port);
    assert.equal(first.fields.listener, `udp://${HOST}:${port}`);
    const summary = await logger.next(`${MESSAGE} (${DATAGRAMS - 1} more in the last window)`);
    assert.equal(summary.fields.reason, 'fault_drop');
    assert.equal(summary.fields.count, DATAGRAMS - 1);
    assert.equal(dropLines(logger).length, 2, 'two lines for the whole flood');
  });

  it('rate_limited: the same, and counted apart from the answered ones', { timeout: TEST_TIMEOUT_MS }, async () => {
    const RATE = 1;
    const { logger } = await flood(
      { listeners: [{ protocol: 'udp', host: HOST, port: 0 }], udpRatePerSource: RATE },
      (s) => s.stats.udp.dropped.rate_limited,
      DATAGRAMS - RATE,
    );
    const [first, ...rest] = dropLines(logger);
    assert.equal(first?.fields.reason, 'rate_limited');
    assert.equal(rest.length, 0, 'no line per datagram');
    const summary = await logger.next(`${MESSAGE} (${DATAGRAMS - RATE - 1} more in the last window)`);
    assert.equal(summary.fields.count, DATAGRAMS - RATE - 1);
  });

  it('what is still counted at close is logged then', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { logger } = await flood(
      { listeners: [{ protocol: 'udp', host: HOST, port: 0, faults: { dropRate: 1 } }] },
      (s) => s.stats.udp.dropped.fault_drop,
      DATAGRAMS,
    );
    await within((server as EchoServer).close(), WAIT_MS, 'server.close()');
    const lines = dropLines(logger);
    assert.equal(lines.length, 2);
    assert.equal(lines[1]?.fields.count, DATAGRAMS - 1);
  });
});
