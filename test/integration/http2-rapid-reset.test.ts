// HTTP/2 rapid reset (CVE-2023-44487) over a real loopback https listener: a node:http2 client
// opens streams and resets each right after its HEADERS, in a bounded loop. Past
// --http2-max-resets-per-second its connection gets GOAWAY (ENHANCE_YOUR_CALM) and is closed,
// the refusal is counted under reason http2_rapid_reset, and another client is served meanwhile.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type ClientHttp2Session, connect, constants as h2 } from 'node:http2';
import { after, before, describe, it } from 'node:test';
import type { Registry } from 'prom-client';
import { createEchoServer, createMetrics, type EchoServer } from '../../src/index.js';
import { HOST } from '../../testkit/clients.js';
import { floodResets } from '../../testkit/h2.js';
import { metric } from '../../testkit/echod-process.js';
import { parsePrometheus } from '../../testkit/prometheus.js';
import { RecordingLogger } from '../../testkit/recording-logger.js';

/** One GET on `session`; resolves with its status and body. */
async function get(session: ClientHttp2Session, path: string): Promise<{ status: number; body: string }> {
  const req = session.request({ ':path': path });
  const [headers] = (await once(req, 'response')) as [Record<string, unknown>];
  let body = '';
  req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
  await once(req, 'end');
  return { status: Number(headers[':status']), body };
}

describe('http2 rapid reset', () => {
  let server: EchoServer;
  let registry: Registry;
  let url: string;
  const logger = new RecordingLogger();

  before(async () => {
    server = createEchoServer({
      listeners: [{ protocol: 'https', host: HOST, port: 0 }],
      tls: { selfSigned: true },
      http: { maxStreamResetsPerSecond: 50 },
      logger,
    });
    registry = createMetrics(server, { processMetrics: false });
    await server.listen();
    url = `https://${HOST}:${server.address?.port ?? 0}`;
  });
  after(() => server.close());

  it('closes a connection that resets streams past the bound with GOAWAY, counts it, and serves another client meanwhile', async () => {
    const good = connect(url, { rejectUnauthorized: false });
    good.on('error', () => {});
    assert.equal((await get(good, '/before')).status, 200);

    const flood = connect(url, { rejectUnauthorized: false });
    flood.on('error', () => {});
    const { sent, goawayCode } = await floodResets(flood, {
      between: async (sent) => {
        // The well-behaved client is answered while the flood goes on.
        if (sent === 40) assert.equal((await get(good, '/during')).status, 200);
        await new Promise((resolve) => setTimeout(resolve, 1));
      },
    });
    assert.equal(goawayCode, h2.NGHTTP2_ENHANCE_YOUR_CALM, `GOAWAY ENHANCE_YOUR_CALM after ${sent} resets`);
    assert.ok(sent < 1000, `closed after ${sent} streams, before the loop's end`);

    const after = await get(good, '/after');
    assert.equal(after.status, 200);
    assert.equal((JSON.parse(after.body) as { path: string }).path, '/after');
    good.close();

    const metrics = parsePrometheus(await registry.metrics());
    assert.equal(metric(metrics, 'echod_http_refusals_total', { reason: 'http2_rapid_reset' }), 1);
    const [line] = logger.all('http2 streams reset too fast: GOAWAY and closed');
    assert.deepEqual([line?.level, line?.fields.reason, line?.fields.limit], ['warn', 'http2_rapid_reset', 50]);
  });
});
