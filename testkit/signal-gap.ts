// Run as its own process by cli.test.ts (so the CLI's logger owns this process's stdout, not
// the test runner's): runs main() with a stand-in for the process's signals, sends it one
// SIGTERM, and reports on stderr, as one JSON line, whether SIGTERM or SIGINT was ever left
// without a listener while echod drained. With real signals, a moment without a listener
// means Node restores the default action, and a second signal then kills the process (or is
// lost) instead of making it exit at once with code 1.
import { EventEmitter } from 'node:events';
import { main } from '../src/cli/main.js';

export interface SignalGapOutcome {
  exitCode: number;
  /** Signals whose last listener was removed after the first SIGTERM. */
  gaps: string[];
}

const signals = new EventEmitter();
const gaps: string[] = [];
let signalled = false;
signals.on('removeListener', (name: string | symbol) => {
  if (signalled && (name === 'SIGTERM' || name === 'SIGINT') && signals.listenerCount(name) === 0) gaps.push(name);
});
signals.on('newListener', (name: string | symbol) => {
  // The first SIGTERM listener means echod is listening and waiting for a signal.
  if (name === 'SIGTERM' && !signalled) {
    setImmediate(() => {
      signalled = true;
      signals.emit('SIGTERM');
    });
  }
});

const exitCode = await main(['--host', '127.0.0.1', '--port', '0', '--log-level', 'silent'], {
  env: {},
  stdout: process.stdout,
  stderr: process.stderr,
  signals,
});
const outcome: SignalGapOutcome = { exitCode, gaps };
process.stderr.write(`${JSON.stringify(outcome)}\n`, () => process.exit(0));
