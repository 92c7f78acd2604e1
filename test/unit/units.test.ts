// Parsing of sizes and durations, as typed by people on a command line or in an env file.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatBytes, formatDurationMs, parseBytes, parseDurationMs } from '../../src/core/units.js';

describe('parseBytes', () => {
  const cases: [string, number | undefined][] = [
    ['0', 0],
    ['1500', 1500],
    ['64KiB', 65_536],
    ['64kib', 65_536],
    ['1MiB', 1_048_576],
    ['1 MiB', 1_048_576],
    ['1.5KiB', 1536],
    ['2k', 2000],
    ['1MB', 1_000_000],
    ['1GiB', 1_073_741_824],
    ['12B', 12],
    ['', undefined],
    ['-1', undefined],
    ['1.5', undefined],
    ['0.1KiB', undefined],
    ['64 bananas', undefined],
    ['KiB', undefined],
    ['1e3', undefined],
  ];
  for (const [text, expected] of cases) {
    it(`${JSON.stringify(text)} → ${expected}`, () => assert.equal(parseBytes(text), expected));
  }
});

describe('parseDurationMs', () => {
  const cases: [string, number | undefined][] = [
    ['0', 0],
    ['500ms', 500],
    ['30s', 30_000],
    ['1.5s', 1500],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['5', undefined],
    ['-5s', undefined],
    ['5 days', undefined],
    ['', undefined],
    ['0.5ms', undefined],
  ];
  for (const [text, expected] of cases) {
    it(`${JSON.stringify(text)} → ${expected}`, () => assert.equal(parseDurationMs(text), expected));
  }
});

describe('format ↔ parse', () => {
  it('property: formatBytes output parses back to the same number', () => {
    fc.assert(fc.property(fc.nat({ max: 2 ** 40 }), (bytes) => assert.equal(parseBytes(formatBytes(bytes)), bytes)));
  });

  it('property: formatDurationMs output parses back to the same number', () => {
    fc.assert(fc.property(fc.nat({ max: 2 ** 31 - 1 }), (ms) => assert.equal(parseDurationMs(formatDurationMs(ms)), ms)));
  });

  it('property: no string makes either parser throw', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const size = parseBytes(text);
        const duration = parseDurationMs(text);
        assert.ok(size === undefined || (Number.isSafeInteger(size) && size >= 0));
        assert.ok(duration === undefined || (Number.isSafeInteger(duration) && duration >= 0));
      }),
    );
  });
});
