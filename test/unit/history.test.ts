// RateHistory: per-second rates of cumulative counters in a bounded ring, on an injected clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RateHistory } from '../../src/observability/history.js';

const counters = (connections: number, lines = 0, bytesIn = 0, bytesOut = 0) => ({ connections, lines, bytesIn, bytesOut });

describe('RateHistory', () => {
  it('stores the rate per second since the previous sample, timed in Unix seconds', () => {
    let now = 1_000_000;
    const history = new RateHistory(10, () => now);
    history.record(counters(0, 0, 0, 0));
    assert.deepEqual(history.snapshot().t, [], 'the first sample only sets the baseline');
    now += 2000;
    history.record(counters(10, 40, 2000, 1000));
    assert.deepEqual(history.snapshot(), { t: [1002], connections: [5], lines: [20], bytesIn: [1000], bytesOut: [500] });
  });

  it('keeps only the last `capacity` samples, oldest first', () => {
    let now = 0;
    const history = new RateHistory(3, () => now);
    for (let second = 0; second <= 5; second++) {
      now = second * 1000;
      history.record(counters(second * second));
    }
    const snapshot = history.snapshot();
    assert.deepEqual(snapshot.t, [3, 4, 5]);
    assert.deepEqual(snapshot.connections, [5, 7, 9]);
  });

  it('counts a counter that went down (a worker restarted) as 0, and ignores a clock that did not advance', () => {
    let now = 0;
    const history = new RateHistory(5, () => now);
    history.record(counters(100));
    now = 1000;
    history.record(counters(40));
    history.record(counters(50)); // same instant: no rate, but the new baseline
    now = 2000;
    history.record(counters(53));
    assert.deepEqual(history.snapshot().connections, [0, 3]);
  });

  it('rounds rates to two decimals and rejects a capacity that is not a positive integer', () => {
    let now = 0;
    const history = new RateHistory(2, () => now);
    history.record(counters(0));
    now = 3000;
    history.record(counters(1));
    assert.deepEqual(history.snapshot().connections, [0.33]);
    assert.throws(() => new RateHistory(0), RangeError);
    assert.throws(() => new RateHistory(1.5), RangeError);
  });
});
