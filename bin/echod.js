#!/usr/bin/env node
// Process tuning that must come before the rest of echod loads (see src/runtime-tuning.ts).
import { tuneBeforeLoading } from '../dist/runtime-tuning.js';

tuneBeforeLoading();
const { main } = await import('../dist/cli.js');
process.exitCode = await main(process.argv.slice(2));
