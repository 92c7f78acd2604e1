/**
 * Logging for events that can come in floods (rejected connections): the first event of a
 * kind is logged at once with its details; the ones after it are counted and summed up in at
 * most one line per kind per window. Metrics still count every event; only the log is thinned.
 */
import type { Logger } from '../core/log.js';

/** One summary line per kind per this long, at most. */
const AGGREGATE_WINDOW_MS = 1000;

interface Window {
  count: number;
  timer: NodeJS.Timeout;
}

export class AggregatedLog<K extends string> {
  private readonly logger: Logger;
  private readonly message: string;
  private readonly windows = new Map<K, Window>();

  /** `message` is the text of every line; the kind goes in the `reason` field. */
  constructor(logger: Logger, message: string) {
    this.logger = logger;
    this.message = message;
  }

  record(kind: K, details: object): void {
    const open = this.windows.get(kind);
    if (open !== undefined) {
      open.count++;
      return;
    }
    this.logger.warn({ ...details, reason: kind }, this.message);
    this.openWindow(kind);
  }

  /** Logs what is still counted and stops the timers (the server is closing). */
  flush(): void {
    for (const [kind, window] of this.windows) {
      clearTimeout(window.timer);
      this.summarize(kind, window.count);
    }
    this.windows.clear();
  }

  private openWindow(kind: K): void {
    const timer = setTimeout(() => this.closeWindow(kind), AGGREGATE_WINDOW_MS);
    timer.unref();
    this.windows.set(kind, { count: 0, timer });
  }

  private closeWindow(kind: K): void {
    const window = this.windows.get(kind);
    this.windows.delete(kind);
    if (window === undefined || window.count === 0) return;
    this.summarize(kind, window.count);
    // Still flooding: keep summing up, one line per window.
    this.openWindow(kind);
  }

  private summarize(kind: K, count: number): void {
    if (count === 0) return;
    this.logger.warn({ reason: kind, count, windowMs: AGGREGATE_WINDOW_MS }, `${this.message} (${count} more in the last window)`);
  }
}
