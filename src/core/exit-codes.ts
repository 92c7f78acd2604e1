/**
 * The exit codes of `echod` and its tools (`echod bench`, `echod check`): one table, so scripts
 * and CI can rely on them whichever command ran.
 */

/** Served and drained; every check passed; every echoed byte matched. */
export const EXIT_OK = 0;
/** A runtime failure: could not start or serve, a check failed, a byte differed, a connection broke, the target could not be reached. */
export const EXIT_FAILURE = 1;
/** A bad command line or configuration: nothing was bound or sent. */
export const EXIT_USAGE = 2;
/** Interrupted (SIGINT, 128 + 2, as shells report it) before anything was measured. */
export const EXIT_INTERRUPTED = 130;
/** The reader of standard output went away (`echod check … | head -1`): 128 + SIGPIPE, as shells report a tool killed by it. */
export const EXIT_BROKEN_PIPE = 141;
