/**
 * What the tool commands (`echod bench`, `echod check`) get from the process, so tests can call
 * them as plain functions with stand-ins, and the exit codes they resolve to.
 */

export interface ToolIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown };
  env: NodeJS.ProcessEnv;
}

/** Everything passed (check) or every echoed byte matched (bench). */
export const EXIT_OK = 0;
/** A check failed, a byte differed, a connection broke, or the target could not be reached. */
export const EXIT_FAILURE = 1;
/** A bad command line: nothing was sent. */
export const EXIT_USAGE = 2;
/** Interrupted (SIGINT, 128 + 2, as shells report it) before anything was measured. */
export const EXIT_INTERRUPTED = 130;

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
