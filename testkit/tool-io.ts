// The tools' I/O captured in memory, for tests that call benchMain/checkMain directly and read
// what they printed.
import type { ToolIo } from '../src/tools/io.js';

export interface CapturedIo {
  io: ToolIo;
  stdout(): string;
  stderr(): string;
}

/** An io whose stdout and stderr are strings; `isTTY` makes stdout look like a terminal (live lines). */
export function captureIo(isTTY = false): CapturedIo {
  let out = '';
  let err = '';
  return {
    io: { stdout: { write: (text: string) => (out += text), isTTY }, stderr: { write: (text: string) => (err += text) }, env: {} },
    stdout: () => out,
    stderr: () => err,
  };
}
