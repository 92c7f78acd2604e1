// The heap-headroom decision of the `echod` command's runtime tuning (src/runtime-tuning.ts).
// Its effect on speed is measured by the yardstick (docs/performance.md), not here.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FAST_READ_BYTES_PER_S, growingPercentFor, HEADROOM_BYTES, MALLOC_WARMUP_BYTES } from '../src/runtime-tuning.js';

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
      fc.property(fc.integer({ min: 1, max: HEADROOM_BYTES - 1 }), fc.integer({ min: FAST_READ_BYTES_PER_S, max: 2 ** 40 }), (old, rate) => {
        const percent = growingPercentFor(old, rate);
        assert.ok(percent > 0);
        assert.ok(Math.max(old, MiB) * (percent / 100) >= HEADROOM_BYTES);
      }),
    );
  });

  it("the malloc warm-up block stays within glibc's dynamic threshold (32 MiB on 64-bit)", () => {
    assert.ok(MALLOC_WARMUP_BYTES + 4096 <= 32 * MiB);
  });
});
