/**
 * Connection-rate mode (`--connect-rate N/s --round-trips K`), as tcpkali's `--connect-rate`:
 * new connections open on a fixed schedule, each does K echoes (closed loop, `--depth` in
 * flight), then closes with a FIN. What it measures is the server's cost per connection.
 * `--connections` caps how many are open at once; a connection due while the cap is reached
 * waits, and the lag is reported as the client falling behind its schedule.
 */
import { type Connection, type EngineHandle, MEASURE } from './connection.js';
import { type Lifetime, StreamConnection } from './stream.js';

export class ConnectRatePool implements Connection {
  readonly id: number;
  readonly digests = null;
  private readonly engine: EngineHandle;
  private readonly active = new Set<StreamConnection>();
  private readonly lifetime: Lifetime;
  /** ms between two connects of this engine. */
  private readonly periodMs: number;
  private nextDue = 0;
  private nextId: number;

  constructor(engine: EngineHandle) {
    const { spec } = engine;
    this.engine = engine;
    this.id = spec.firstConnId;
    this.nextId = spec.firstConnId;
    this.periodMs = 1000 / (spec.connectRate ?? 1);
    this.lifetime = { roundTrips: spec.roundTrips, finished: (connection, ok) => this.finished(connection, ok) };
  }

  /** One probe connection, so that an unreachable target stops the run before it starts. */
  async open(): Promise<string | null> {
    const probe = this.connection();
    const failure = await probe.open();
    probe.close(true);
    return failure;
  }

  begin(now: number): void {
    this.nextDue = now;
    this.refill(now);
  }

  /** Opens the connections whose time has come (while fewer than `--connections` are open). */
  refill(now: number): void {
    const engine = this.engine;
    while (this.nextDue <= now && engine.sending && engine.budget() > 0 && this.active.size < engine.spec.connections) {
      const lag = now - this.nextDue;
      if (lag > engine.maxSendLagMs && engine.phase === MEASURE) engine.maxSendLagMs = lag;
      this.nextDue += this.periodMs;
      const connection = this.connection();
      this.active.add(connection);
      void connection.open().then((failure) => {
        if (failure === null && this.active.has(connection)) connection.begin(performance.now());
      });
    }
  }

  private connection(): StreamConnection {
    const id = this.nextId;
    this.nextId += this.engine.spec.idStride;
    return new StreamConnection(this.engine, id, 0, this.lifetime);
  }

  private finished(connection: StreamConnection, ok: boolean): void {
    if (!this.active.delete(connection)) return;
    if (ok) this.engine.retired();
    if (!this.engine.sending) this.engine.settled();
  }

  checkDeadline(now: number): void {
    for (const connection of [...this.active]) connection.checkDeadline(now);
  }

  close(destroy: boolean): void {
    for (const connection of this.active) connection.close(destroy);
    this.active.clear();
  }

  closeGracefully(done: () => void): void {
    let left = this.active.size;
    if (left === 0) {
      done();
      return;
    }
    const closed = (): void => {
      if (--left === 0) done();
    };
    for (const connection of this.active) connection.closeGracefully(closed);
    this.active.clear();
  }
}
