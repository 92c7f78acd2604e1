// The child processes a run starts (echod, the bystander pool). Each one is SIGKILLed by its
// own handle if this process exits while it is still running, so no run leaves strays behind.
import type { ChildProcess } from 'node:child_process';

const running = new Set<ChildProcess>();

process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Remembers `child` until it exits, and kills it if this process exits first. */
export function killOnExit(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
}
