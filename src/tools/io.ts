/**
 * What the tool commands (`echod bench`, `echod check`) get from the process, so tests can call
 * them as plain functions with stand-ins. Their exit codes are src/core/exit-codes.ts.
 */
import { EXIT_USAGE } from '../core/exit-codes.js';

export interface ToolIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown };
  env: NodeJS.ProcessEnv;
}

export const processIo = (): ToolIo => ({ stdout: process.stdout, stderr: process.stderr, env: process.env });

/** Prints a usage error the way `echod` itself does, and returns the usage exit code. */
export function usageError(io: ToolIo, command: string, err: unknown): number {
  const message = err instanceof Error ? err.message : String(err);
  io.stderr.write(`echod ${command}: ${message}\nTry 'echod ${command} --help' for the list of flags.\n`);
  return EXIT_USAGE;
}

/** True when a live, redrawn line makes sense: stdout is a terminal, and not a dumb one. */
export function wantsLiveLine(io: ToolIo): boolean {
  return io.stdout.isTTY === true && io.env.TERM !== 'dumb';
}
