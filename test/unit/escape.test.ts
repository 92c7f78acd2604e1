// escapeBytes (src/core/escape.ts): the one escaping of client bytes, for the trace log and
// the tools' reports. Nothing it returns can end a log line or carry a terminal escape.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { escapeBytes } from '../../src/core/escape.js';

describe('escapeBytes', () => {
  it('keeps printable ASCII, C-escapes the usual controls, quote and backslash, \\xNN for the rest', () => {
    assert.equal(escapeBytes(Buffer.from('hi "x"\\ \n\r\t\0', 'latin1')), 'hi \\"x\\"\\\\ \\n\\r\\t\\0');
    assert.equal(escapeBytes(Buffer.from([0x1b, 0x7f, 0xff])), '\\x1b\\x7f\\xff');
  });

  it('cuts at max bytes and marks the cut', () => {
    assert.equal(escapeBytes(Buffer.from('abcdef'), 3), 'abc…');
    assert.equal(escapeBytes(Buffer.from('abc'), 3), 'abc');
  });

  it('never returns a control byte or a non-ASCII character', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => /^[\x20-\x7e]*$/.test(escapeBytes(bytes))));
  });
});
