// The pure framing core, exhaustively: every split of the input must give the same echo as
// the reference model below, which reads the whole input at once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type Framer, LineFramer, RawFramer, SharedLineFramers } from '../../src/core/framing.js';

interface Outcome {
  echoed: Buffer;
  lines: number;
  overflowed: boolean;
  tail: Buffer;
}

/** What line framing must produce for `input`, computed in one pass over the whole input. */
function reference(input: Buffer, maxLineBytes: number): Outcome {
  let start = 0;
  let lines = 0;
  for (let nl = input.indexOf(0x0a); nl !== -1; nl = input.indexOf(0x0a, start)) {
    if (nl + 1 - start > maxLineBytes) {
      return { echoed: input.subarray(0, start), lines, overflowed: true, tail: Buffer.alloc(0) };
    }
    lines++;
    start = nl + 1;
  }
  const rest = input.subarray(start);
  if (rest.length >= maxLineBytes) return { echoed: input.subarray(0, start), lines, overflowed: true, tail: Buffer.alloc(0) };
  return { echoed: input.subarray(0, start), lines, overflowed: false, tail: rest };
}

/** Feeds `pieces` to a fresh framer, then ends the input. */
function run(pieces: readonly Buffer[], maxLineBytes: number): Outcome {
  const framer = new LineFramer(maxLineBytes);
  const echoed: Buffer[] = [];
  let lines = 0;
  for (const piece of pieces) {
    const out = framer.push(piece);
    echoed.push(Buffer.from(out)); // the framer may return views of its input: keep a copy
    lines += framer.lines;
    assert.ok(framer.pendingBytes < maxLineBytes, 'never holds a whole line limit');
  }
  const tail = framer.overflowed ? Buffer.alloc(0) : framer.flush();
  return { echoed: Buffer.concat(echoed), lines, overflowed: framer.overflowed, tail: Buffer.from(tail) };
}

function splitAt(input: Buffer, cuts: readonly number[]): Buffer[] {
  const sorted = [...cuts].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const cut of sorted) {
    pieces.push(input.subarray(from, cut));
    from = cut;
  }
  pieces.push(input.subarray(from));
  return pieces;
}

const SAMPLES: Record<string, Buffer> = {
  'plain lines': Buffer.from('hello\nworld\n'),
  'CRLF lines': Buffer.from('one\r\ntwo\r\n'),
  'empty lines': Buffer.from('\n\n\na\n\n'),
  'binary bytes, NUL and invalid UTF-8': Buffer.from([0x00, 0xff, 0xfe, 0x0a, 0xc3, 0x28, 0x0d, 0x0a, 0x80, 0x0a]),
  'unterminated tail': Buffer.from('first\nsecond\nunfinished'),
  'only a tail': Buffer.from('no newline at all'),
};

describe('LineFramer', () => {
  for (const [name, input] of Object.entries(SAMPLES)) {
    it(`${name}: every split into two and three pieces echoes the same bytes`, () => {
      const expected = reference(input, 1024);
      for (let a = 0; a <= input.length; a++) {
        assert.deepEqual(run(splitAt(input, [a]), 1024), expected, `split at ${a}`);
        for (let b = a; b <= input.length; b++) {
          assert.deepEqual(run(splitAt(input, [a, b]), 1024), expected, `split at ${a}, ${b}`);
        }
      }
    });

    it(`${name}: one byte at a time`, () => {
      const pieces = [...input].map((byte) => Buffer.from([byte]));
      assert.deepEqual(run(pieces, 1024), reference(input, 1024));
    });
  }

  it('returns the chunk itself when it ends on a newline (no copy on the hot path)', () => {
    const framer = new LineFramer(1024);
    const chunk = Buffer.from('a\nb\n');
    assert.equal(framer.push(chunk), chunk);
    assert.equal(framer.lines, 2);
  });

  it('holds a copy of a partial line, not a view of the read buffer', () => {
    const framer = new LineFramer(1024);
    const chunk = Buffer.from('ab');
    framer.push(chunk);
    chunk.fill(0x7a); // the transport may reuse its buffer
    assert.deepEqual(framer.push(Buffer.from('\n')), Buffer.from('ab\n'));
  });

  describe('line limit (maxLineBytes counts the newline)', () => {
    it('accepts a line of exactly maxLineBytes', () => {
      assert.deepEqual(run([Buffer.from('abcd\n')], 5), {
        echoed: Buffer.from('abcd\n'),
        lines: 1,
        overflowed: false,
        tail: Buffer.alloc(0),
      });
    });

    it('refuses a line one byte longer, after echoing the lines before it', () => {
      const outcome = run([Buffer.from('ok\nabcde\nnever\n')], 5);
      assert.deepEqual(outcome, { echoed: Buffer.from('ok\n'), lines: 1, overflowed: true, tail: Buffer.alloc(0) });
    });

    it('refuses a partial line as soon as it reaches the limit without a newline', () => {
      const framer = new LineFramer(5);
      assert.equal(framer.push(Buffer.from('abcd')).length, 0);
      assert.equal(framer.overflowed, false);
      framer.push(Buffer.from('e'));
      assert.equal(framer.overflowed, true);
      assert.equal(framer.pendingBytes, 0, 'nothing is kept once overflowed');
    });

    it('returns nothing after overflowing, whatever comes next', () => {
      const framer = new LineFramer(3);
      framer.push(Buffer.from('toolong\n'));
      assert.equal(framer.overflowed, true);
      assert.equal(framer.push(Buffer.from('a\n')).length, 0);
      assert.equal(framer.lines, 0);
      assert.equal(framer.flush().length, 0);
    });

    it('a limit of 1 accepts only empty lines', () => {
      assert.deepEqual(run([Buffer.from('\n\n')], 1), { echoed: Buffer.from('\n\n'), lines: 2, overflowed: false, tail: Buffer.alloc(0) });
      assert.equal(run([Buffer.from('\na')], 1).overflowed, true);
    });

    it('every split of inputs around the limit agrees with the reference', () => {
      const input = Buffer.from('abc\nabcd\nabcde\nab');
      for (const max of [1, 2, 3, 4, 5, 6, 7]) {
        const expected = reference(input, max);
        for (let a = 0; a <= input.length; a++) {
          for (let b = a; b <= input.length; b++) {
            assert.deepEqual(run(splitAt(input, [a, b]), max), expected, `max ${max}, split at ${a}, ${b}`);
          }
        }
      }
    });
  });

  it('property: any bytes, split anywhere, with any limit, echo as the reference says', () => {
    const bytes = fc.uint8Array({ maxLength: 300 }).map((array) => {
      // Plenty of newlines, so lines of every length appear.
      return Buffer.from(array.map((byte) => (byte % 7 === 0 ? 0x0a : byte)));
    });
    fc.assert(
      fc.property(bytes, fc.array(fc.nat(), { maxLength: 12 }), fc.integer({ min: 1, max: 80 }), (input, rawCuts, max) => {
        const cuts = rawCuts.map((cut) => cut % (input.length + 1));
        assert.deepEqual(run(splitAt(input, cuts), max), reference(input, max));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('RawFramer', () => {
  it('returns every chunk as it is and keeps nothing', () => {
    const framer = new RawFramer();
    const chunk = Buffer.from('no\nframing\x00here');
    assert.equal(framer.push(chunk), chunk);
    assert.equal(framer.lines, 0);
    assert.equal(framer.flush().length, 0);
    assert.equal(framer.overflowed, false);
  });
});

describe('SharedLineFramers', () => {
  /** Connections pushing their pieces in turn, each taking the shared framer as Connection.echo does. */
  function interleave(inputs: Buffer[][], max: number): { echoed: Buffer[]; owned: number; framers: SharedLineFramers } {
    const framers = new SharedLineFramers(max);
    const mine: (Framer | null)[] = inputs.map(() => null); // null: the shared one, read at each push
    const echoed: Buffer[][] = inputs.map(() => []);
    const rounds = Math.max(...inputs.map((pieces) => pieces.length));
    for (let round = 0; round < rounds; round++) {
      inputs.forEach((pieces, conn) => {
        const piece = pieces[round];
        if (piece === undefined) return;
        const own = mine[conn] ?? null;
        echoed[conn]?.push(Buffer.from((own ?? framers.idle).push(piece)));
        if (own === null && framers.mustTake()) mine[conn] = framers.take();
      });
    }
    return { echoed: echoed.map((parts) => Buffer.concat(parts)), owned: mine.filter((framer) => framer !== null).length, framers };
  }

  it('connections with nothing pending share one framer; one holding part of a line gets its own', () => {
    const whole = [Buffer.from('a\n'), Buffer.from('b\nc\n')];
    const { echoed, owned } = interleave([whole, whole, whole], 1024);
    assert.deepEqual(echoed, [Buffer.from('a\nb\nc\n'), Buffer.from('a\nb\nc\n'), Buffer.from('a\nb\nc\n')]);
    assert.equal(owned, 0);
  });

  it('partial lines of interleaved connections never mix: each comes back to its own connection, whole', () => {
    const { echoed, owned, framers } = interleave(
      [
        [Buffer.from('one-'), Buffer.from('first\n')],
        [Buffer.from('two\n'), Buffer.from('x')],
        [Buffer.from('thr'), Buffer.from('ee\n')],
      ],
      1024,
    );
    assert.deepEqual(echoed, [Buffer.from('one-first\n'), Buffer.from('two\n'), Buffer.from('three\n')]);
    assert.equal(owned, 3, 'each connection left holding a partial line at some point owns a framer');
    assert.equal(framers.idle.pendingBytes, 0, "the shared framer never keeps anyone's bytes");
  });

  it('a connection that breaks the limit takes the framer with it; the shared one stays usable', () => {
    const { echoed, framers } = interleave([[Buffer.from('toolong\n'), Buffer.from('a\n')], [Buffer.from('ok\n')]], 4);
    assert.deepEqual(echoed, [Buffer.alloc(0), Buffer.from('ok\n')]);
    assert.equal(framers.idle.overflowed, false);
  });
});
