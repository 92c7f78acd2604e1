// `echod bench --udp` when datagrams are lost: a lost datagram costs its slot the loss deadline
// (from the round trips seen, at least 200 ms), not the whole --timeout, so a run against echod's
// default per-source limit (1000 answers a second, and all of bench's sockets share one address)
// measures what gets through and says why the rest did not; an echo that comes after its datagram
// was counted lost is `late`, which does not fail the run, not `unexpected`, which does.
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { afterEach, describe, it } from 'node:test';
import { createEchoServer, type EchoServer } from '../../src/server/server.js';
import { benchMain, type BenchResult } from '../../src/tools/bench.js';
import { HOST } from '../../testkit/clients.js';
import { captureIo, runJson } from '../../testkit/tool-io.js';

const TEST_TIMEOUT_MS = 30_000;
/** Every this many datagrams, the delaying server answers one late… */
const DELAY_EVERY = 50;
/** …by this much: past the loss deadline's 200 ms floor, within --timeout. */
const DELAY_MS = 400;

describe('echod bench --udp with loss', () => {
  let server: EchoServer | undefined;
  let delaying: Socket | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    if (delaying !== undefined) {
      delaying.close();
      await once(delaying, 'close');
      delaying = undefined;
    }
  });

  it(
    "against echod's default --udp-rate-per-source: the run measures what gets through, and names the limit and the flag",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      server = createEchoServer({ listeners: [{ protocol: 'udp', host: HOST, port: 0 }] });
      const { port } = await server.listen();
      const captured = captureIo();
      const started = performance.now();
      const code = await benchMain([`${HOST}:${port}`, '--udp', '--mode', 'raw', '-t', '2', '-c', '20'], captured.io);
      const tookMs = performance.now() - started;
      const text = captured.stdout();
      assert.equal(code, 0, text);
      const measured = /([\d,]+) messages echoed and checked/.exec(text);
      // At most 1000 answers a second reach the one source: about 2,000 in the 2 s window (none when each lost datagram stalled its socket for --timeout).
      assert.ok(measured !== null && Number(measured[1]?.replaceAll(',', '')) >= 1000, text);
      // 1 s warm-up, 2 s measured, and a drain bounded by the loss deadline, not by --timeout's 5 s.
      assert.ok(tookMs < 4500, `took ${Math.round(tookMs)} ms`);
      assert.match(
        text,
        /\n {4}\([\d,]+ of [\d,]+ datagrams lost, each after \d+ ms without an echo, \d+% of the run waiting for them: the server may limit datagrams per source, e\.g\. echod's --udp-rate-per-source; start it with --udp-rate-per-source 0 to measure\)\n/,
      );
    },
  );

  it('without a limit (--udp-rate-per-source 0): nothing lost, no note', { timeout: TEST_TIMEOUT_MS }, async () => {
    server = createEchoServer({ listeners: [{ protocol: 'udp', host: HOST, port: 0 }], udpRatePerSource: 0 });
    const { port } = await server.listen();
    const { code, result } = await runJson<BenchResult>(benchMain, [`${HOST}:${port}`, '--udp', '-t', '1', '-w', '0', '-c', '4']);
    assert.equal(code, 0);
    assert.equal(result.errors.lost, 0);
    assert.ok(result.msgs > 2000, `msgs ${result.msgs}`);
    assert.equal(result.lossWaitShare, 0);
    assert.ok((result.lossDeadlineMs ?? 0) >= 200, `deadline ${result.lossDeadlineMs}`);
  });

  it('an echo later than the loss deadline: counted lost, then late, and the run still passes', { timeout: TEST_TIMEOUT_MS }, async () => {
    const socket = createSocket('udp4');
    delaying = socket;
    let seen = 0;
    socket.on('message', (msg, from) => {
      seen++;
      const send = (): void => {
        if (delaying === socket) socket.send(msg, from.port, from.address);
      };
      if (seen % DELAY_EVERY === 0) setTimeout(send, DELAY_MS);
      else send();
    });
    socket.bind(0, HOST);
    await once(socket, 'listening');
    const { code, result } = await runJson<BenchResult>(benchMain, [
      `${HOST}:${socket.address().port}`,
      '--udp',
      '-t',
      '1500ms',
      '-w',
      '0',
      '-c',
      '2',
    ]);
    assert.equal(code, 0, JSON.stringify(result.errorSamples));
    assert.equal(result.ok, true);
    assert.equal(result.errors.unexpected, 0);
    assert.ok(result.errors.lost >= 1, JSON.stringify(result.errors));
    assert.ok(result.errors.late >= 1, JSON.stringify(result.errors));
    assert.ok(result.errors.late <= result.errors.lost);
    assert.ok(
      result.errorSamples.some(
        (sample) => sample.kind === 'late' && /came \d+ ms after it was sent, once counted lost/.test(sample.message),
      ),
    );
  });
});
