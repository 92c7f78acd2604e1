// Bounded waiting for the reliability scenarios: every wait has a deadline and names what it
// waited for when it gives up. Waits are woken by events; `pollUntil` is only for conditions
// nothing announces (a /proc count, a counter behind the admin endpoint).
import type { EventEmitter } from 'node:events';

// `within` and `Waiters` are the integration tests' own (one implementation for both).
import { within } from '../../test/helpers/wait.js';

export { Waiters, within } from '../../test/helpers/wait.js';

/** How often `pollUntil` looks again by default. */
const POLL_INTERVAL_MS = 50;

/**
 * For conditions no event announces (a file count under /proc, a counter read over HTTP):
 * evaluates `condition()` every `intervalMs` until it holds, or rejects after `ms`.
 */
export async function pollUntil(condition: () => boolean | Promise<boolean>, ms: number, what: string, intervalMs = POLL_INTERVAL_MS): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await delay(intervalMs);
  }
}

/** Resolves with the name of the first of `events` that `emitter` emits, or rejects after `ms`. */
export async function firstEvent(emitter: EventEmitter, events: readonly string[], ms: number, what: string): Promise<string> {
  const handlers: [string, () => void][] = [];
  try {
    return await within(
      new Promise<string>((resolve) => {
        for (const name of events) {
          const handler = (): void => resolve(name);
          handlers.push([name, handler]);
          emitter.on(name, handler);
        }
      }),
      ms,
      what,
    );
  } finally {
    for (const [name, handler] of handlers) emitter.off(name, handler);
  }
}

/**
 * A pause of a fixed length. Only for pacing load (one byte a second, a line every 20 ms) and
 * for measurement windows, never to wait for something that has an event.
 */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
