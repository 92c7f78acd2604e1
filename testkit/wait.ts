// Bounded waiting for the tests, the reliability scenarios and the soak: every wait has a
// deadline and says what it was waiting for when it gives up. Waits are woken by events;
// `poll` is only for conditions no event announces (a server-side byte count, a file count
// under /proc, a counter read over HTTP).
import type { EventEmitter } from 'node:events';

/** Rejects with a message naming `what` if `promise` has not settled within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Wakes waiters whenever something they may be waiting for happened. The owner calls
 * `notify()` from its event handlers; `until()` re-checks its condition on each one.
 */
export class Waiters {
  private readonly pending = new Set<() => void>();

  notify(): void {
    for (const wake of [...this.pending]) wake();
  }

  /** Resolves once `condition()` holds (checked now and on every notify), or rejects after `ms`. */
  until(condition: () => boolean, ms: number, what: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        let met: boolean;
        try {
          met = condition();
        } catch (err) {
          done();
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        if (met) {
          done();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      }, ms);
      const done = (): void => {
        clearTimeout(timer);
        this.pending.delete(check);
      };
      this.pending.add(check);
      check();
    });
  }
}

/** How often `poll` looks again by default. Short: loopback work finishes in microseconds to milliseconds. */
const POLL_INTERVAL_MS = 5;

/** A gentler `poll` interval for conditions that cost a request to read (/stats, /metrics, /proc). */
export const SCRAPE_POLL_MS = 50;

/**
 * For conditions no event announces: evaluates `condition()` every `intervalMs` until it
 * holds, or rejects after `ms`.
 */
export async function poll(
  condition: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
  intervalMs = POLL_INTERVAL_MS,
): Promise<void> {
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
