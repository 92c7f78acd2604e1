// Bounded waiting for the integration tests: every wait has a deadline and says what it was
// waiting for when it gives up. Waits are woken by events; `poll` is only for conditions no
// event announces (such as a server-side byte count).

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

/** How often `poll` looks again. Short: loopback work finishes in microseconds to milliseconds. */
const POLL_INTERVAL_MS = 5;

/**
 * For conditions no event announces: checks `condition()` every few milliseconds until it
 * holds, or rejects after `ms`.
 */
export async function poll(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}
