// The `echod` command's runtime tuning (src/cli/runtime-tuning.ts): the heap-headroom decision, and
// the young generation held small in the real binary. Their effect on speed is measured by the
// yardstick (docs/performance.md), not here.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import fc from 'fast-check';
import { Client } from '../../testkit/clients.js';
import { adminGet, EchodProcess, echoes, metric, startEchod } from '../../testkit/echod-process.js';
import { parsePrometheus } from '../../testkit/prometheus.js';
import { FAST_READ_BYTES_PER_S, growingPercentFor, HEADROOM_BYTES, MALLOC_WARMUP_BYTES, speaksHttp } from '../../src/cli/runtime-tuning.js';

const MiB = 1024 * 1024;

describe('growingPercentFor', () => {
  it('leaves V8 alone while reads are slow, whatever the heap', () => {
    assert.equal(growingPercentFor(9 * MiB, 0), 0);
    assert.equal(growingPercentFor(9 * MiB, FAST_READ_BYTES_PER_S - 1), 0);
  });

  it('leaves V8 alone once the old generation is as large as the headroom', () => {
    assert.equal(growingPercentFor(HEADROOM_BYTES, 10 * FAST_READ_BYTES_PER_S), 0);
    assert.equal(growingPercentFor(500 * MiB, 10 * FAST_READ_BYTES_PER_S), 0);
  });

  it("echod's own start-up heap under fast reads: the limit goes 64 MiB above it", () => {
    // 9 MiB of old generation: 712% puts the next limit at 9 × 8.12 ≈ 73 MiB.
    assert.equal(growingPercentFor(9 * MiB, FAST_READ_BYTES_PER_S), 712);
  });

  it('never divides by a tiny heap', () => {
    assert.equal(growingPercentFor(0, FAST_READ_BYTES_PER_S), 6400);
  });

  it('always puts the limit at least HEADROOM_BYTES above the old generation when it acts', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: HEADROOM_BYTES - 1 }),
        fc.integer({ min: FAST_READ_BYTES_PER_S, max: 2 ** 40 }),
        (old, rate) => {
          const percent = growingPercentFor(old, rate);
          assert.ok(percent > 0);
          assert.ok(Math.max(old, MiB) * (percent / 100) >= HEADROOM_BYTES);
        },
      ),
    );
  });

  it("the malloc warm-up block stays within glibc's dynamic threshold (32 MiB on 64-bit)", () => {
    assert.ok(MALLOC_WARMUP_BYTES + 4096 <= 32 * MiB);
  });
});

describe('speaksHttp: which commands keep V8 young generation unbounded', () => {
  it('an http, https, ws or wss URL (plain or +unix) in the arguments or ECHOD_LISTEN', () => {
    for (const argv of [
      ['--listen', 'http://:8081'],
      ['--listen=https://[::1]:8444'],
      ['--listen', 'tcp://:8080', '--listen', 'WS://127.0.0.1:9'],
      ['--listen', 'http+unix:///run/e.sock'],
      ['bench', 'wss://127.0.0.1:8444/'],
    ]) {
      assert.equal(speaksHttp(argv, {}), true, argv.join(' '));
    }
    assert.equal(speaksHttp([], { ECHOD_LISTEN: 'tcp://:8080  http://:8081' }), true);
  });

  it('tcp, tls, udp and unix listeners, and text that merely contains "http", do not', () => {
    for (const argv of [
      [],
      ['--listen', 'tcp://:8080', '--listen', 'tls://:8443'],
      ['--banner', 'see http://example/'],
      ['--listen', 'unix:///run/e.sock'],
    ]) {
      assert.equal(speaksHttp(argv, {}), false, argv.join(' '));
    }
    assert.equal(speaksHttp([], { ECHOD_LISTEN: 'udp://:8080' }), false);
  });
});

describe('the echod command on Node keeps its young generation small', () => {
  const started: EchodProcess[] = [];
  afterEach(async () => {
    for (const echod of started.splice(0)) await echod.stop();
  });

  it('new space stays at its starting size through start-up and 16 MiB of echo', { timeout: 30_000 }, async () => {
    const { port, adminPort } = await startEchod('node', ['--admin-port', '0'], (echod) => started.push(echod));
    assert.ok(adminPort !== undefined);
    const client = await Client.connect(port);
    const batch = `${'x'.repeat(63)}\n`.repeat(16 * 1024); // 1 MiB of 64-byte lines
    for (let i = 0; i < 16; i++) await echoes(client, batch);
    client.socket.destroy();
    const scrape = parsePrometheus(await adminGet(adminPort, '/metrics'));
    const newSpace = metric(scrape, 'nodejs_heap_space_size_total_bytes', { space: 'new' });
    // Unbounded, V8 grows it to 8 MiB while echod loads and to 32 MiB under load.
    assert.ok(newSpace <= 4 * MiB, `new space ${newSpace} bytes`);
  });

  it('but lets it grow where it serves HTTP (a request allocates several KB; scavenges would dominate)', { timeout: 30_000 }, async () => {
    const echod = new EchodProcess('node', ['--listen', 'http://127.0.0.1:0', '--admin-port', '0', '--log-format', 'json']);
    started.push(echod);
    const admin = await echod.line('admin endpoint listening', 10_000);
    const scrape = parsePrometheus(await adminGet(Number(admin.port), '/metrics'));
    const newSpace = metric(scrape, 'nodejs_heap_space_size_total_bytes', { space: 'new' });
    assert.ok(newSpace > 4 * MiB, `new space ${newSpace} bytes`);
  });
});
