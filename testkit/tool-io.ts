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

/** A tool's entry point as the tests call it (benchMain, checkMain). */
export type ToolMain = (argv: readonly string[], io: ToolIo) => Promise<number>;

/** Runs `main` on captured io: its exit code and what it printed on each stream. */
export async function runTool(main: ToolMain, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const captured = captureIo();
  const code = await main(args, captured.io);
  return { code, stdout: captured.stdout(), stderr: captured.stderr() };
}

/** Runs `main` with `--json` on captured io: its exit code, the result it printed, and its stderr. */
export async function runJson<T>(main: ToolMain, args: readonly string[]): Promise<{ code: number; result: T; stderr: string }> {
  const { code, stdout, stderr } = await runTool(main, [...args, '--json']);
  return { code, result: JSON.parse(stdout) as T, stderr };
}
