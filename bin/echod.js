#!/usr/bin/env node
// Process tuning that must come before the rest of echod loads (see src/cli/runtime-tuning.ts).
import { tuneBeforeLoading } from '../dist/cli/runtime-tuning.js';

tuneBeforeLoading();
const { main } = await import('../dist/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
