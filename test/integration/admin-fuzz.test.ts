// Hostile input on the admin port, over real loopback sockets: requests found to be mishandled,
// each kept as a case with the answers it deserves and the close reason counted for it, after
// which /healthz is still 200 and the echo port still echoes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AdminCloseReason } from '../../src/observability/admin-limits.js';
import { AdminFixture, type AdminCounts, countsDelta, parseResponses } from '../../testkit/admin-http.js';
import { Client, WAIT_MS } from '../../testkit/clients.js';
import { delay, poll } from '../../testkit/wait.js';

/** Short deadlines, so that a case the server must close itself stays cheap. */
const LIMITS = {
  maxConnections: 8,
  headersTimeoutMs: 200,
  keepAliveTimeoutMs: 200,
  requestTimeoutMs: 2000,
  maxHeaderBytes: 2048,
} as const;
/** A trickle writes one byte this often. */
const TRICKLE_GAP_MS = 25;
const TEST_TIMEOUT_MS = 60_000;

type After = 'end' | 'wait' | 'destroy';
type Delivery = 'whole' | 'chunks' | 'trickle';

/**
 * Hostile inputs the property below found, shrunk, each kept as a plain case: every one failed
 * before the fix named in its commit. The client never closes (`wait`): the server must end
 * the connection itself, so a keep-alive it should not have kept shows as `keep_alive_timeout`.
 */
const FOUND: readonly { name: string; send: string; statuses: readonly number[]; reason: AdminCloseReason }[] = [
  {
    name: 'Content-Length 26 then 0 announces a body: the GET /metrics smuggled in it is never answered',
    send: 'GET /healthz HTTP/1.1\r\nContent-Length: 26\r\nContent-Length: 0\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n',
    statuses: [400],
    reason: 'bad_request',
  },
  {
    name: 'POST with Content-Length: 0 twice is answered 405 and closed: the request in its body is never answered',
    send: 'POST /../../etc/passwd HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\nGET /metrics?fz HTTP/1.1\r\nHost: x\r\n\r\n',
    statuses: [405],
    reason: 'done',
  },
  {
    name: 'Connection: close then Connection: keep-alive closes the connection (close wins, whichever field comes last)',
    send: 'GET /healthz HTTP/1.1\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n',
    statuses: [200],
    reason: 'done',
  },
  {
    name: 'an HTTP/1.0 POST is answered 405 and closed, as HTTP/1.0 without keep-alive asks',
    send: 'POST /../../etc/passwd HTTP/1.0\r\n\r\n',
    statuses: [405],
    reason: 'done',
  },
  {
    name: 'a POST with Connection: close is answered 405 and closed',
    send: 'POST /healthz HTTP/1.1\r\nConnection: close\r\n\r\n',
    statuses: [405],
    reason: 'done',
  },
  {
    name: 'HTTP/1.0 with Connection: keep-alive, close is closed (close wins)',
    send: 'GET /metrics HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n',
    statuses: [200],
    reason: 'done',
  },
  {
    name: 'a NUL in a header value is answered 400 (RFC 9110 §5.5: reject it or replace it)',
    send: 'GET /connections? HTTP/1.1\r\n&: \u0000\r\n\r\n',
    statuses: [400],
    reason: 'bad_request',
  },
  {
    name: 'other control bytes in a header value (0x01, DEL) are answered 400',
    send: 'GET /healthz HTTP/1.1\r\nX-Ctl: a\u0001\u007fb\r\n\r\n',
    statuses: [400],
    reason: 'bad_request',
  },
];

describe('admin endpoint: hostile input (real sockets)', { timeout: TEST_TIMEOUT_MS }, () => {
  let fixture: AdminFixture;
  let echoes = 0;
  before(async () => {
    fixture = await AdminFixture.start({}, { processMetrics: false }, LIMITS);
  });
  after(async () => {
    await fixture.cleanup();
  });

  /** Waits until no admin connection is open; returns the counters then. */
  async function settled(): Promise<AdminCounts> {
    let counts = await fixture.counts();
    await poll(async () => (counts = await fixture.counts()).active === 0, WAIT_MS, 'the admin connection count to return to 0');
    return counts;
  }

  /** Writes `bytes` whole, in chunks cut at `cuts` (fractions of the length), or a byte every TRICKLE_GAP_MS; stops once the server has closed. */
  async function deliver(client: Client, bytes: Buffer, delivery: Delivery, cuts: readonly number[]): Promise<void> {
    const write = async (data: Buffer): Promise<boolean> => {
      if (client.closed || client.ended) return false;
      await client.write(data).catch(() => {});
      return true;
    };
    if (delivery === 'whole') await write(bytes);
    else if (delivery === 'chunks') {
      const points = [...new Set(cuts.map((at) => Math.floor(at * bytes.length)))].sort((a, b) => a - b);
      let from = 0;
      for (const to of [...points, bytes.length]) {
        if (to > from && !(await write(bytes.subarray(from, to)))) return;
        from = Math.max(from, to);
        await new Promise(setImmediate);
      }
    } else {
      for (let i = 0; i < bytes.length; i++) {
        if (!(await write(bytes.subarray(i, i + 1)))) return;
        await delay(TRICKLE_GAP_MS);
      }
    }
  }

  /**
   * One connection: `bytes` delivered, then a half-close (`end`), nothing (`wait`: the server
   * must close), or a destroy; resolves with the client once it is closed.
   */
  async function exchange(bytes: Buffer, delivery: Delivery, cuts: readonly number[], how: After): Promise<Client> {
    const client = await Client.connect(fixture.adminPort);
    try {
      await deliver(client, bytes, delivery, cuts);
      if (how === 'destroy') client.destroy();
      else {
        if (how === 'end' && !client.closed) client.end();
        await client.waitEndOrClose(WAIT_MS);
        await client.waitClosed(WAIT_MS);
        assert.ok(client.ended, `the server ended the connection with a FIN (${client.error?.code ?? 'no error'})`);
      }
    } finally {
      client.destroy();
    }
    return client;
  }

  /** The process still serves: the admin port's probe, and one line on the echo port. */
  async function stillServing(): Promise<void> {
    const before = await fixture.counts();
    const health = await fixture.get('/healthz').catch(async (err: unknown) => {
      throw new Error(
        `GET /healthz failed (${String(err)}); admin counters moved by ${JSON.stringify(countsDelta(before, await settled()))}`,
      );
    });
    assert.equal(health.status, 200);
    assert.equal(health.body, 'ok\n');
    const line = `still echoing ${++echoes}\n`;
    const client = await Client.connect(fixture.echo.port);
    try {
      await client.write(line);
      assert.equal(await client.readText(line), line);
    } finally {
      client.destroy();
    }
  }

  for (const found of FOUND) {
    it(found.name, async () => {
      const before = await settled();
      const client = await exchange(Buffer.from(found.send, 'latin1'), 'whole', [], 'wait');
      assert.deepEqual(
        parseResponses(client.take()).map((response) => response.status),
        found.statuses,
      );
      const delta = countsDelta(before, await settled());
      assert.deepEqual(delta.closed, { [found.reason]: 1 });
      await stillServing();
    });
  }
});
