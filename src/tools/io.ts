/**
 * What the tool commands (`echod bench`, `echod check`) get from the process, so tests can call
 * them as plain functions with stand-ins. Their exit codes are src/core/exit-codes.ts.
 */
import { EXIT_BROKEN_PIPE, EXIT_USAGE } from '../core/exit-codes.js';

export interface ToolIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown };
  env: NodeJS.ProcessEnv;
}

/** The real process's streams. */
export const processIo = (): ToolIo => ({ stdout: process.stdout, stderr: process.stderr, env: process.env });

/**
 * A tool's first step: when it writes to the process's stdout and that reader goes away
 * (`echod check … | head -1`), the tool ends at once and quietly, as SIGPIPE ends a C tool,
 * instead of dying of an unhandled EPIPE with a stack trace.
 */
export function endQuietlyOnBrokenPipe(io: ToolIo): void {
  if (io.stdout !== process.stdout || process.stdout.listeners('error').includes(onBrokenPipe)) return;
  process.stdout.on('error', onBrokenPipe);
}

function onBrokenPipe(err: NodeJS.ErrnoException): void {
  if (err.code === 'EPIPE') process.exit(EXIT_BROKEN_PIPE);
  throw err;
}

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
