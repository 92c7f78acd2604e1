/**
 * `echod check`: the entry `echod` dispatches to (src/cli/main.ts) and the public surface of the
 * conformance suite. The work lives in ./check/.
 */
export { type CaseResult, checkMain, type CheckResult } from './check/main.js';
export { CHECK_FLAGS, checkHelp } from './check/options.js';
export type { ConnectionDigest } from './check/client.js';
export type { ToolIo } from './io.js';
