// Pipelined requests on the admin endpoint: answered one at a time and in order, and a client
// that pipelines thousands of requests without reading costs the server one response, not
// thousands: reading stops while a response is unsent, so the handler is not called again until
// the client takes what it was sent, and requestTimeoutMs closes it if it never does.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { AdminServer, type AdminSource } from '../../src/observability/admin.js';
import { Client, WAIT_MS } from '../../testkit/clients.js';
import { RecordingLogger } from '../../testkit/recording-logger.js';
import { within } from '../../testkit/wait.js';

const PIPELINED = 3000;
/** Enough entries that one page is ~20 KB, so 3,000 answers would be ~60 MB held by the server. */
const FAKE_CONNECTIONS = 2000;
const REQUEST_TIMEOUT_MS = 1000;

/** A source whose connections() counts its calls: each call is one response being built. */
function countingSource(): AdminSource & { calls: number } {
  const entry = (id: number): object => ({
    id,
    listener: 'tcp://127.0.0.1:7',
    remote: { address: '192.0.2.1', port: 40000 + id },
    note: 'x'.repeat(120),
  });
  const all = Array.from({ length: FAKE_CONNECTIONS }, (_, id) => entry(id));
  const source = {
    calls: 0,
    state: 'listening' as const,
    ready: true,
    stats: () => Promise.resolve({}),
    connections: () => {
      source.calls++;
      return Promise.resolve(all);
    },
    metrics: () => Promise.resolve(''),
    metricsContentType: 'text/plain',
  };
  return source;
}

describe('admin endpoint: pipelining', () => {
  let admin: AdminServer | undefined;
  let logger = new RecordingLogger();
  const clients: Client[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await admin?.close();
    admin = undefined;
  });

  async function start(source: AdminSource): Promise<number> {
    logger = new RecordingLogger();
    admin = new AdminServer({ source, logger, requestTimeoutMs: REQUEST_TIMEOUT_MS });
    return (await admin.listen()).port;
  }

  it(
    `${PIPELINED} pipelined GET /connections never read: the server stops reading, builds few answers, and closes the client at requestTimeoutMs`,
    { timeout: WAIT_MS * 3 },
    async () => {
      const source = countingSource();
      const port = await start(source);
      const client = await Client.connect(port, { read: false });
      clients.push(client);
      // Not awaited: a server that stops reading may leave part of this in our send buffer.
      client.socket.write('GET /connections HTTP/1.1\r\nHost: a\r\n\r\n'.repeat(PIPELINED));
      // The client reads nothing, so it cannot see the close: the server's log line says it.
      const closed = await logger.next(
        'admin connection closed',
        (fields) => fields.reason === 'request_timeout',
        REQUEST_TIMEOUT_MS + WAIT_MS,
      );
      assert.equal(closed.fields.remote, `127.0.0.1:${client.socket.localPort}`);
      assert.ok(
        source.calls < PIPELINED / 4,
        `${source.calls} of ${PIPELINED} answers built before the server stopped (the kernel's buffers hold the rest)`,
      );
      // And the endpoint still serves everyone else.
      const probe = await Client.connect(port);
      clients.push(probe);
      await probe.write('GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n');
      assert.match((await probe.readToEnd()).toString('latin1'), /^HTTP\/1\.1 200 /);
    },
  );

  it('pipelined requests are answered in order, each once', { timeout: WAIT_MS * 2 }, async () => {
    const port = await start(countingSource());
    const client = await Client.connect(port);
    clients.push(client);
    const paths = Array.from({ length: 60 }, (_, i) => ['/healthz', '/readyz', '/nope'][i % 3] as string);
    await client.write(
      paths.map((path, i) => `GET ${path} HTTP/1.1\r\nHost: a${i === paths.length - 1 ? '\r\nConnection: close' : ''}\r\n\r\n`).join(''),
    );
    const answers = (await within(client.readToEnd(), WAIT_MS, 'every answer')).toString('latin1');
    const statuses = [...answers.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((match) => Number(match[1]));
    assert.deepEqual(
      statuses,
      paths.map((path) => (path === '/nope' ? 404 : 200)),
    );
  });
});
