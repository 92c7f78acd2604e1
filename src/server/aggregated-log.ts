/**
 * Logging for events that can come in floods (rejected connections): the first event of a
 * kind is logged at once with its details; the ones after it are counted and summed up in at
 * most one line per kind per window. Metrics still count every event; only the log is thinned.
 */
import type { Logger } from '../core/log.js';

/** One summary line per kind per this long, at most. */
const AGGREGATE_WINDOW_MS = 1000;

interface Window<K extends string> {
  kind: K;
  /** The listener the events came from (its URL), when they are counted per listener. */
  listener: string | undefined;
  count: number;
  timer: NodeJS.Timeout;
}

export class AggregatedLog<K extends string> {
  private readonly logger: Logger;
  private readonly message: string;
  /** One window per kind, or per kind and listener. */
  private readonly windows = new Map<string, Window<K>>();

  /** `message` is the text of every line; the kind goes in the `reason` field. */
  constructor(logger: Logger, message: string) {
    this.logger = logger;
    this.message = message;
  }

  /** One event; with `listener`, counted and summed up per listener (its URL in every line). */
  record(kind: K, details: object, listener?: string): void {
    const key = listener === undefined ? kind : `${kind} ${listener}`;
    const open = this.windows.get(key);
    if (open !== undefined) {
      open.count++;
      return;
    }
    this.logger.warn({ ...(listener !== undefined ? { listener } : {}), ...details, reason: kind }, this.message);
    this.openWindow(key, kind, listener);
  }

  /** Logs what is still counted and stops the timers (the server is closing). */
  flush(): void {
    for (const window of this.windows.values()) {
      clearTimeout(window.timer);
      this.summarize(window);
    }
    this.windows.clear();
  }

  private openWindow(key: string, kind: K, listener: string | undefined): void {
    const timer = setTimeout(() => this.closeWindow(key), AGGREGATE_WINDOW_MS);
    timer.unref();
    this.windows.set(key, { kind, listener, count: 0, timer });
  }

  private closeWindow(key: string): void {
    const window = this.windows.get(key);
    this.windows.delete(key);
    if (window === undefined || window.count === 0) return;
    this.summarize(window);
    // Still flooding: keep summing up, one line per window.
    this.openWindow(key, window.kind, window.listener);
  }

  private summarize({ kind, listener, count }: Window<K>): void {
    if (count === 0) return;
    this.logger.warn(
      { ...(listener !== undefined ? { listener } : {}), reason: kind, count, windowMs: AGGREGATE_WINDOW_MS },
      `${this.message} (${count} more in the last window)`,
    );
  }
}
