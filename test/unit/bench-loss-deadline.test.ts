// bench's UDP loss deadline (src/tools/bench/loss-deadline.ts): RFC 6298's RTO from the round
// trips seen, floored at 200 ms, capped at --timeout, and 1 s (or --timeout) before any is seen.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOSS_DEADLINE_MIN_MS, LossDeadline } from '../../src/tools/bench/loss-deadline.js';

const SCAN_MS = 50;

describe('LossDeadline', () => {
  it('before any round trip: 1 s, or --timeout when that is shorter', () => {
    assert.equal(new LossDeadline(5000, SCAN_MS).ms, 1000);
    assert.equal(new LossDeadline(300, SCAN_MS).ms, 300);
  });

  it('loopback round trips (well under a millisecond): the 200 ms floor', () => {
    const deadline = new LossDeadline(5000, SCAN_MS);
    for (let i = 0; i < 100; i++) deadline.sample(0.1 + (i % 3) * 0.05);
    assert.equal(deadline.ms, LOSS_DEADLINE_MIN_MS);
  });

  it('slow, varying round trips: SRTT + 4 × RTTVAR, as RFC 6298 computes them', () => {
    const deadline = new LossDeadline(5000, SCAN_MS);
    deadline.sample(400);
    // First sample: SRTT = R, RTTVAR = R/2, RTO = R + 4 × R/2.
    assert.equal(deadline.ms, 1200);
    deadline.sample(600);
    // RTTVAR = 3/4 × 200 + 1/4 × |400 − 600| = 200; SRTT = 7/8 × 400 + 1/8 × 600 = 425.
    assert.equal(deadline.ms, 425 + 4 * 200);
  });

  it('never past --timeout', () => {
    const deadline = new LossDeadline(2000, SCAN_MS);
    deadline.sample(1500);
    assert.equal(deadline.ms, 2000);
  });
});
