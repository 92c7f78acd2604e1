// The output shaper alone, on a fake scheduler (no real time passes): `chunkBytes` writes one
// chunk per turn of the event loop and never waits on a timer; delays and the throttle wait on
// timers of the right length; order is kept; backpressure and dispose() stop it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FaultOptions } from '../../src/config/faults.js';
import { type Cancel, OutputShaper, type ShapedSink, type ShaperScheduler } from '../../src/connection/shaper.js';

/** Time moves only when told; turns and timers run only when asked. */
class FakeScheduler implements ShaperScheduler {
  time = 0;
  /** Every `after()` asked for, in order (ms). */
  readonly timersAsked: number[] = [];
  private turns: (() => void)[] = [];
  private timers: { at: number; fn: () => void }[] = [];

  now(): number {
    return this.time;
  }

  after(ms: number, fn: () => void): Cancel {
    this.timersAsked.push(ms);
    const timer = { at: this.time + ms, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  nextTurn(fn: () => void): Cancel {
    this.turns.push(fn);
    return () => {
      this.turns = this.turns.filter((t) => t !== fn);
    };
  }

  /** Runs one turn of the loop: what was queued for it, not what that queues. Returns how many ran. */
  turn(): number {
    const due = this.turns;
    this.turns = [];
    for (const fn of due) fn();
    return due.length;
  }

  /** Runs turns until none is queued; returns how many turns that took. */
  turnsUntilIdle(limit = 1_000_000): number {
    let turns = 0;
    while (this.turn() > 0) assert.ok(++turns <= limit, 'the shaper keeps asking for turns');
    return turns;
  }

  /** Moves time forward by `ms`, running the timers that fall due, in time order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const next = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (next === undefined) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.time = next.at;
      next.fn();
    }
    this.time = end;
  }

  get pendingTimers(): number {
    return this.timers.length;
  }
}

/** Records every write (one entry per write call) and what else the shaper asked of it. */
class RecordingSink implements ShapedSink {
  readonly writes: Buffer[] = [];
  canWrite = true;
  paused = 0;
  resumed = 0;
  closedHow: 'fin' | 'rst' | null = null;
  writeNow(data: Buffer): boolean {
    this.writes.push(Buffer.from(data));
    return true;
  }
  pauseInput(): void {
    this.paused++;
  }
  resumeInput(): void {
    this.resumed++;
  }
  faultClose(how: 'fin' | 'rst'): void {
    this.closedHow = how;
  }
  writable(): boolean {
    return this.canWrite;
  }
  get text(): string {
    return Buffer.concat(this.writes).toString('latin1');
  }
}

function shaper(faults: FaultOptions): { shaper: OutputShaper; sink: RecordingSink; clock: FakeScheduler } {
  const sink = new RecordingSink();
  const clock = new FakeScheduler();
  return { shaper: new OutputShaper(faults, sink, clock), sink, clock };
}

describe('output shaper (fake scheduler)', () => {
  it('chunkBytes 1: 16 KiB goes out as 16,384 one-byte writes, one per turn, with no timer at all', () => {
    const { shaper: s, sink, clock } = shaper({ chunkBytes: 1 });
    const data = Buffer.alloc(16 * 1024, 'x');
    data[data.length - 1] = 0x0a;
    s.send(data, 1);
    assert.equal(sink.writes.length, 1, 'the first chunk at once');
    assert.equal(clock.turn(), 1);
    assert.equal(sink.writes.length, 2, 'then exactly one more per turn');
    const turns = clock.turnsUntilIdle();
    assert.equal(turns, data.length - 2);
    assert.equal(sink.writes.length, data.length);
    assert.ok(sink.writes.every((write) => write.length === 1));
    assert.ok(Buffer.concat(sink.writes).equals(data), 'byte-exact, in order');
    assert.deepEqual(clock.timersAsked, [], 'no timer: a timer would cost a millisecond or more per chunk');
    assert.equal(clock.time, 0, 'and no time had to pass');
    assert.equal(clock.pendingTimers, 0, 'nothing left waiting');
  });

  it('chunkBytes 3: writes of 3, the last one shorter; echo sent meanwhile queues behind, in order', () => {
    const { shaper: s, sink, clock } = shaper({ chunkBytes: 3 });
    s.send(Buffer.from('abcdefgh\n'), 1);
    s.send(Buffer.from('ij\n'), 1);
    clock.turnsUntilIdle();
    assert.deepEqual(
      sink.writes.map((write) => write.toString()),
      ['abc', 'def', 'gh\n', 'ij\n'],
    );
  });

  it('chunkBytes with a delay: nothing before the delay, then one chunk per turn', () => {
    const { shaper: s, sink, clock } = shaper({ chunkBytes: 2, delayMs: [50, 50] });
    s.send(Buffer.from('abcdef\n'), 1);
    assert.equal(sink.writes.length, 0);
    assert.deepEqual(clock.timersAsked, [50]);
    clock.advance(49);
    assert.equal(sink.writes.length, 0, 'not a millisecond early');
    clock.advance(1);
    assert.equal(sink.text, 'ab');
    clock.turnsUntilIdle();
    assert.equal(sink.text, 'abcdef\n');
    assert.deepEqual(clock.timersAsked, [50], 'the chunks after the delay wait on turns, not timers');
  });

  it('a socket under backpressure stops the chunks; drained() resumes them', () => {
    const { shaper: s, sink, clock } = shaper({ chunkBytes: 1 });
    s.send(Buffer.from('abcd'), 0);
    assert.equal(sink.text, 'a');
    sink.canWrite = false;
    clock.turnsUntilIdle();
    assert.equal(sink.text, 'a', 'nothing while the socket holds output');
    sink.canWrite = true;
    s.drained();
    clock.turnsUntilIdle();
    assert.equal(sink.text, 'abcd');
  });

  it('dispose() cancels the next turn: nothing more is written', () => {
    const { shaper: s, sink, clock } = shaper({ chunkBytes: 1 });
    s.send(Buffer.from('abcd'), 0);
    s.dispose();
    assert.equal(clock.turnsUntilIdle(), 0);
    assert.equal(sink.text, 'a');
  });

  it('input throttle: reading pauses over the rate and resumes on a timer; dispose() clears that timer', () => {
    const { shaper: s, sink, clock } = shaper({ throttleBytesPerSecond: 1000 });
    s.received(1500);
    assert.equal(sink.paused, 1, 'over one second of budget: reading pauses');
    assert.deepEqual(clock.timersAsked, [500]);
    clock.advance(500);
    assert.equal(sink.resumed, 1, 'resumed once the budget refilled');
    s.received(1500);
    assert.equal(sink.paused, 2);
    s.dispose();
    assert.equal(clock.pendingTimers, 0, 'no timer outlives the connection');
    clock.advance(10_000);
    assert.equal(sink.resumed, 1, 'a disposed shaper never resumes a gone connection');
  });

  it('whenEmpty() runs once the last chunk is written', () => {
    const { shaper: s, clock } = shaper({ chunkBytes: 1 });
    s.send(Buffer.from('abc'), 0);
    let done = 0;
    s.whenEmpty(() => done++);
    clock.turn();
    assert.equal(done, 0);
    clock.turnsUntilIdle();
    assert.equal(done, 1);
  });

  it('throttle 1000 B/s: one second of burst at once, then the rest waits on a timer of the right length', () => {
    const { shaper: s, sink, clock } = shaper({ throttleBytesPerSecond: 1000 });
    s.send(Buffer.alloc(1500, 'y'), 0);
    assert.equal(sink.text.length, 1000);
    assert.deepEqual(clock.timersAsked, [1]);
    clock.advance(250);
    assert.equal(sink.text.length, 1250, 'refilled at the rate');
    clock.advance(250);
    assert.equal(sink.text.length, 1500);
    assert.equal(clock.pendingTimers, 0);
  });

  it('closeAfter lines=2 with chunks: the two lines go out chunked, then the close', () => {
    const { shaper: s, sink, clock } = shaper({ chunkBytes: 2, closeAfter: { lines: 2 }, closeHow: 'rst' });
    s.send(Buffer.from('one\ntwo\nthree\n'), 3);
    assert.equal(sink.closedHow, null);
    clock.turnsUntilIdle();
    assert.equal(sink.text, 'one\ntwo\n');
    assert.equal(sink.closedHow, 'rst');
  });

  it('closeAfter time=30s fires on its timer', () => {
    const { sink, clock } = shaper({ closeAfter: { ms: 30_000 } });
    clock.advance(29_999);
    assert.equal(sink.closedHow, null);
    clock.advance(1);
    assert.equal(sink.closedHow, 'fin');
  });
});
