/**
 * `echod bench`: the entry `echod` dispatches to (src/cli/main.ts) and the public surface of the
 * load generator. The work lives in ./bench/.
 */
export { benchMain } from './bench/main.js';
export { BENCH_FLAGS, type BenchOptions, benchHelp, resolveBenchOptions } from './bench/options.js';
export { type BenchResult, summary } from './bench/report.js';
export { ERROR_KINDS, ERROR_MEANINGS } from './bench/errors.js';
export type { ToolIo } from './io.js';
