/**
 * The status page's data, computed once per tick and shared by every viewer: one stats
 * snapshot a second feeds the rate history and one JSON body that every `GET /api/status`
 * gets as is. The open connections are snapshotted at most once a tick, and only while someone
 * asks; each sort order of a snapshot is computed once. So a viewer costs a cached string and a
 * slice, never work that grows with the number of viewers.
 */
import type { ServerState, ServerStats } from '../core/stats.js';
import { RateHistory } from './history.js';
import { buildStatus, historyCounters, type StatusAbout, type WorkerStatus } from './status-data.js';

/** What the feed reads (an AdminSource is one). */
export interface StatusSource {
  /** The server's lifecycle now: a sample taken in another state is not served (see `status()`). */
  readonly state?: ServerState;
  stats(): Promise<object>;
  connections(): Promise<object[]>;
  workers?(): readonly WorkerStatus[];
}

/** One sample a second: the page updates at that rate. */
export const STATUS_TICK_MS = 1000;
/** Rows in one page of `/api/connections`, at most. */
export const STATUS_MAX_PAGE_SIZE = 100;
/** The table's columns that sort: each is a field of a connection (or `remote`, sorted as text). */
export const CONNECTION_SORT_KEYS = ['id', 'remote', 'listener', 'bytesIn', 'bytesOut', 'lines', 'ageMs', 'idleMs'] as const;
export type ConnectionSortKey = (typeof CONNECTION_SORT_KEYS)[number];

export interface ConnectionsQuery {
  sort: ConnectionSortKey;
  descending: boolean;
  offset: number;
  limit: number;
}

interface ConnectionsSnapshot {
  at: number;
  rows: readonly Record<string, unknown>[];
  sorted: Map<string, readonly Record<string, unknown>[]>;
}

export class StatusFeed {
  private readonly source: StatusSource;
  private readonly about: StatusAbout;
  private readonly history: RateHistory;
  private readonly clock: () => number;
  private timer: NodeJS.Timeout | null = null;
  private current: Promise<string> | null = null;
  /** The source's state when `current` was sampled. */
  private sampledState: ServerState | undefined;
  private ticking: Promise<string> | null = null;
  private snapshot: ConnectionsSnapshot | null = null;
  private snapshotting: Promise<ConnectionsSnapshot> | null = null;

  constructor(source: StatusSource, about: StatusAbout, history = new RateHistory(), clock: () => number = Date.now) {
    this.source = source;
    this.about = about;
    this.history = history;
    this.clock = clock;
  }

  /** Samples now and every STATUS_TICK_MS until stop(); the timer never keeps the process alive. */
  start(): void {
    if (this.timer !== null) return;
    // A failed sample (a source that throws) leaves the last good one; a request sees the next.
    const sample = (): void => void this.tick().catch(() => {});
    sample();
    this.timer = setInterval(sample, STATUS_TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * The latest status JSON: at most a tick old, and never from before the last change of state
   * (the first sample is taken as the admin port opens, before the echo listeners are up: served
   * for the rest of that second it would say `idle` with no listeners while /readyz says ready).
   */
  status(): Promise<string> {
    if (this.current !== null && this.sampledState === this.source.state) return this.current;
    return this.tick();
  }

  /** One sorted page of the open connections: `{ total, offset, limit, sort, order, connections }`. */
  async connections(query: ConnectionsQuery): Promise<string> {
    const snapshot = await this.connectionsSnapshot();
    const order = query.descending ? 'desc' : 'asc';
    const key = `${query.sort}:${order}`;
    let rows = snapshot.sorted.get(key);
    if (rows === undefined) {
      rows = sortRows(snapshot.rows, query.sort, query.descending);
      snapshot.sorted.set(key, rows);
    }
    const limit = Math.min(query.limit, STATUS_MAX_PAGE_SIZE);
    return JSON.stringify({
      total: rows.length,
      offset: query.offset,
      limit,
      sort: query.sort,
      order,
      connections: rows.slice(query.offset, query.offset + limit),
    });
  }

  /** One sample; a tick still waiting for the source (a slow worker) is joined, not doubled. */
  private tick(): Promise<string> {
    this.ticking ??= this.sample().finally(() => {
      this.ticking = null;
    });
    return this.ticking;
  }

  private async sample(): Promise<string> {
    const state = this.source.state;
    const stats = (await this.source.stats()) as ServerStats;
    this.history.record(historyCounters(stats));
    const workers = this.source.workers?.() ?? null;
    const body = JSON.stringify(
      buildStatus({
        stats,
        about: this.about,
        workers: workers === null ? null : [...workers],
        history: this.history.snapshot(),
        now: this.clock(),
      }),
    );
    this.current = Promise.resolve(body);
    this.sampledState = state;
    return body;
  }

  private connectionsSnapshot(): Promise<ConnectionsSnapshot> {
    const now = this.clock();
    if (this.snapshot !== null && now - this.snapshot.at < STATUS_TICK_MS) return Promise.resolve(this.snapshot);
    this.snapshotting ??= this.source
      .connections()
      .then((rows) => {
        this.snapshot = { at: now, rows: rows as Record<string, unknown>[], sorted: new Map() };
        return this.snapshot;
      })
      .finally(() => {
        this.snapshotting = null;
      });
    return this.snapshotting;
  }
}

function sortValue(row: Record<string, unknown>, key: ConnectionSortKey): string | number {
  if (key === 'remote') {
    const remote = row.remote as { address?: string; port?: number } | undefined;
    return `${remote?.address ?? ''}:${remote?.port ?? ''}`;
  }
  const value = row[key];
  return typeof value === 'number' || typeof value === 'string' ? value : '';
}

function sortRows(rows: readonly Record<string, unknown>[], key: ConnectionSortKey, descending: boolean): Record<string, unknown>[] {
  const sign = descending ? -1 : 1;
  return [...rows].sort((a, b) => {
    const left = sortValue(a, key);
    const right = sortValue(b, key);
    const order = typeof left === 'number' && typeof right === 'number' ? left - right : String(left).localeCompare(String(right));
    return order !== 0 ? sign * order : (Number(a.id) || 0) - (Number(b.id) || 0);
  });
}
