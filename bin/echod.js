#!/usr/bin/env node
// V8's young generation is bounded before the rest of echod loads (see src/runtime-tuning.ts).
import { boundYoungGeneration } from '../dist/runtime-tuning.js';

boundYoungGeneration();
const { main } = await import('../dist/cli.js');
process.exitCode = await main(process.argv.slice(2));
