// The soak's mixed load. The steady part is the bench tool's engine (src/tools/bench, used as
// a library): ping-pong (open loop, latency recorded), bulk (many lines in flight on each
// connection) and connection churn (new connections on a schedule, a few echoes each, then
// FIN); the engine checks every echoed byte. What bench does not do runs here on the test
// kit's client: clients that read in bursts (backpressure comes and goes), half-closes after
// an unterminated tail, and resets mid-line. Every loader runs until stop() and then says
// goodbye properly; a wrong echo or an unexpected disconnect is counted, never thrown.
import { Engine, type EngineSpec, type IntervalReport } from '../../src/tools/bench/engine.js';
import { type ErrorCounts, type ErrorKind, zeroErrors } from '../../src/tools/bench/errors.js';
import { type Histogram, summarize as summarizeHistogram, totalHistogram } from '../../src/tools/bench/histogram.js';
import { Client, type ClientOptions, LOADED_WAIT_MS } from '../../testkit/clients.js';
import { delay } from '../../testkit/wait.js';
import { formatLatency } from '../reliability/latency.js';
import { Random } from '../reliability/random.js';

const MAX_ERROR_SAMPLES = 10;
const ECHO_WAIT_MS = LOADED_WAIT_MS;
/** After an unexpected disconnect, a persistent loader waits this long before it reconnects. */
const RECONNECT_PAUSE_MS = 200;
/** How often the engines' counts are folded into the tally. */
const ROLL_MS = 1000;
/** An engine's measured window: until `stop()` (setTimeout's largest delay, about 24.8 days). */
const UNTIL_STOPPED_MS = 2 ** 31 - 1;
/** The engine's error kinds that mean a wrong echo; every other kind is a client error. */
const WRONG_ECHO_KINDS: ReadonlySet<ErrorKind> = new Set<ErrorKind>(['mismatch', 'truncated', 'extra']);

/** What all loaders count together. */
export class Tally {
  /** Round trips, blocks, connections and stream chunks whose echo was verified. */
  echoes = 0;
  bytesVerified = 0;
  /** Echoes that differed from what was sent: the soak fails on any. */
  wrongEchoes = 0;
  /** Timeouts and disconnects nobody asked for. */
  clientErrors = 0;
  readonly errorSamples: string[] = [];
  /** Ping-pong round trips (µs), every one of the run. */
  readonly latency: Histogram = totalHistogram();

  wrong(what: string): void {
    this.wrongEchoes++;
    this.sample(`wrong echo: ${what}`);
  }

  error(what: string): void {
    this.clientErrors++;
    this.sample(what);
  }

  /** Counts an engine's errors of one kind (the engine describes the first few itself). */
  engineErrors(kind: ErrorKind, count: number): void {
    if (WRONG_ECHO_KINDS.has(kind)) this.wrongEchoes += count;
    else this.clientErrors += count;
  }

  /** `p50 0.21 / p99 1.9 / max 12.4 ms (n=4000)`: the ping-pong round trips. */
  latencyText(): string {
    const us = summarizeHistogram(this.latency);
    return formatLatency({ count: us.count, p50Ms: us.p50 / 1000, p99Ms: us.p99 / 1000, maxMs: us.max / 1000 });
  }

  sample(text: string): void {
    if (this.errorSamples.length < MAX_ERROR_SAMPLES) this.errorSamples.push(`${new Date().toISOString()} ${text}`);
  }
}

/** Checks a byte stream against what was sent on it, chunk by chunk, as it comes back. */
export class StreamVerifier {
  private readonly queue: Buffer[] = [];
  private offset = 0;
  /** Sent and not yet seen back. */
  outstanding = 0;
  ok = true;

  sent(data: Buffer): void {
    this.queue.push(data);
    this.outstanding += data.length;
  }

  /** False (and `ok` false for good) once a byte differs or more came back than was sent. */
  received(chunk: Buffer): boolean {
    let at = 0;
    while (this.ok && at < chunk.length) {
      const head = this.queue[0];
      if (head === undefined) {
        this.ok = false;
        break;
      }
      const n = Math.min(head.length - this.offset, chunk.length - at);
      if (!chunk.subarray(at, at + n).equals(head.subarray(this.offset, this.offset + n))) this.ok = false;
      at += n;
      this.offset += n;
      if (this.offset === head.length) {
        this.queue.shift();
        this.offset = 0;
      }
    }
    this.outstanding -= chunk.length;
    return this.ok;
  }
}

/** The echod under load. */
export interface Target {
  host: string;
  port: number;
}

function connect(target: Target, options: ClientOptions = {}): Promise<Client> {
  return Client.connect(target.port, { waitMs: LOADED_WAIT_MS, ...options, host: target.host });
}

export interface Loader {
  readonly name: string;
  stop(): Promise<void>;
}

abstract class LoopLoader implements Loader {
  abstract readonly name: string;
  protected stopping = false;
  private readonly loops: Promise<void>[] = [];

  protected spawn(loop: () => Promise<void>): void {
    this.loops.push(loop());
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }
}

/** The shape of one engine's load; the rest of its spec is the same for all (see `EngineLoad.start`). */
type EngineLoadSpec = Pick<EngineSpec, 'firstConnId' | 'connections' | 'depth' | 'size' | 'rate' | 'connectRate' | 'roundTrips'>;

/** One bench engine in this thread, its counts folded into the tally every second. */
export class EngineLoad implements Loader {
  private readonly finished: Promise<void>;
  private readonly timer: NodeJS.Timeout;
  private counted: ErrorCounts = zeroErrors();

  private constructor(
    readonly name: string,
    private readonly engine: Engine,
    private readonly tally: Tally,
    private readonly recordLatency: boolean,
  ) {
    this.finished = engine.run().then((report) => {
      this.countErrors(report.errors);
      for (const sample of report.samples) tally.sample(`${name}: ${sample.kind}: ${sample.message}`);
    });
    this.timer = setInterval(() => {
      const interval = engine.roll();
      if (interval !== null) this.add(interval);
    }, ROLL_MS);
  }

  /** Opens the engine's connections (rejects if echod cannot be reached), then starts the load. */
  static async start(name: string, target: Target, tally: Tally, load: EngineLoadSpec, recordLatency = false): Promise<EngineLoad> {
    const spec: EngineSpec = {
      target: { host: target.host, port: target.port, address: target.host, family: target.host.includes(':') ? 6 : 4 },
      transport: { kind: 'tcp' },
      mode: 'line',
      warmupMs: 0,
      durationMs: UNTIL_STOPPED_MS,
      count: null,
      idStride: 1,
      timeoutMs: ECHO_WAIT_MS,
      digest: 'none',
      ...load,
    };
    let self: EngineLoad | null = null;
    const engine = new Engine(spec, (interval) => self?.add(interval));
    await engine.connect();
    self = new EngineLoad(name, engine, tally, recordLatency);
    return self;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.engine.stop();
    await this.finished;
  }

  private add(interval: IntervalReport): void {
    this.tally.echoes += interval.messages;
    this.tally.bytesVerified += interval.messages * this.engine.spec.size;
    if (this.recordLatency) this.tally.latency.add(interval.histogram);
    this.countErrors(interval.errors);
  }

  /** The engine's counts are since its start: count what is new. */
  private countErrors(errors: ErrorCounts): void {
    for (const kind of Object.keys(errors) as ErrorKind[]) {
      const fresh = errors[kind] - this.counted[kind];
      if (fresh > 0) this.tally.engineErrors(kind, fresh);
    }
    this.counted = { ...errors };
  }
}

/**
 * New connections at `perSecond`: each sends a few lines and an unterminated tail, half-closes,
 * and must get exactly all of it back before EOF (bench's churn closes after whole lines only).
 */
export class HalfCloseTails extends LoopLoader {
  readonly name = 'half-close tails';

  constructor(target: Target, tally: Tally, random: Random, perSecond = 5, maxInFlight = 20) {
    super();
    let inFlight = 0;
    const one = async (i: number): Promise<void> => {
      const payload = Buffer.concat([random.lines(random.int(10, 2000), 200), Buffer.from(`tail ${i}`)]);
      try {
        const peer = await connect(target);
        try {
          await peer.write(payload);
          peer.end();
          const echo = await peer.readToEnd(ECHO_WAIT_MS);
          if (!echo.equals(payload)) tally.wrong(`half-close tail connection ${i}`);
          else {
            tally.echoes++;
            tally.bytesVerified += payload.length;
          }
        } finally {
          peer.destroy();
        }
      } catch (err) {
        tally.error(`half-close tail ${i}: ${(err as Error).message}`);
      }
    };
    this.spawn(async () => {
      const pending = new Set<Promise<void>>();
      const start = performance.now();
      for (let i = 0; !this.stopping; i++) {
        await delay(start + (i * 1000) / perSecond - performance.now());
        if (inFlight >= maxInFlight) continue;
        inFlight++;
        const task = one(i).finally(() => {
          inFlight--;
          pending.delete(task);
        });
        pending.add(task);
      }
      await Promise.all(pending);
    });
  }
}

/**
 * `clients` connections that write lines steadily but read their echo only in short bursts
 * (20 ms in every 250 ms): echod sees backpressure come and go. Every byte is verified.
 */
export class SlowReaders extends LoopLoader {
  readonly name = 'slow readers';

  constructor(target: Target, tally: Tally, random: Random, clients = 4, chunkBytes = 4096, everyMs = 100, maxOutstanding = 512 * 1024) {
    super();
    const readEveryMs = 250;
    const readForMs = 20;
    for (let c = 0; c < clients; c++) {
      this.spawn(async () => {
        while (!this.stopping) {
          const verifier = new StreamVerifier();
          let peer: Client;
          try {
            peer = await connect(target, { keep: false, read: false, onData: (chunk) => verifier.received(chunk) });
          } catch (err) {
            tally.error(`slow reader connect: ${(err as Error).message}`);
            await delay(RECONNECT_PAUSE_MS);
            continue;
          }
          peer.startReading();
          peer.socket.pause();
          let tick = 0;
          try {
            while (!this.stopping && !peer.closed && verifier.ok) {
              if (verifier.outstanding < maxOutstanding) {
                const chunk = random.lines(chunkBytes, 300);
                verifier.sent(chunk);
                peer.socket.write(chunk);
              }
              if (++tick % Math.round(readEveryMs / everyMs) === 0) {
                peer.socket.resume();
                await delay(readForMs);
                peer.socket.pause();
              }
              await delay(everyMs);
            }
            if (!verifier.ok) tally.wrong(`slow reader ${c}`);
            else if (peer.closed) throw new Error(`closed by the server (${peer.error?.code ?? 'EOF'})`);
            else {
              // Goodbye: read the rest, which must be everything.
              peer.socket.resume();
              peer.end();
              await peer.waitEndOrClose(ECHO_WAIT_MS);
              if (!verifier.ok || verifier.outstanding !== 0)
                tally.wrong(`slow reader ${c}: ${verifier.outstanding} bytes missing at the end`);
              else tally.echoes++;
            }
          } catch (err) {
            tally.error(`slow reader ${c}: ${(err as Error).message}`);
            await delay(RECONNECT_PAUSE_MS);
          } finally {
            peer.destroy();
          }
        }
      });
    }
  }
}

/** Connections at `perSecond` that get one line echoed (verified), send half a line, and reset (RST). */
export class Resets extends LoopLoader {
  readonly name = 'resets';

  constructor(target: Target, tally: Tally, perSecond = 5) {
    super();
    this.spawn(async () => {
      const start = performance.now();
      for (let i = 0; !this.stopping; i++) {
        await delay(start + (i * 1000) / perSecond - performance.now());
        try {
          const peer = await connect(target);
          const line = Buffer.from(`reset ${i}\n`);
          await peer.write(line);
          const echo = await peer.read(line.length, ECHO_WAIT_MS);
          if (!echo.equals(line)) tally.wrong(`reset connection ${i}`);
          else tally.echoes++;
          peer.socket.write('and half a li');
          peer.socket.resetAndDestroy();
        } catch (err) {
          tally.error(`reset ${i}: ${(err as Error).message}`);
        }
      }
    });
  }
}

/**
 * The whole mix on one echod. The engines' shapes follow the soak's former own loaders: 20
 * ping-pong clients at 100 lines/s each, 2 bulk clients with 128 lines of 2000 bytes in flight
 * (about 4 MB/s in all), 20 new connections a second doing 3 round trips each.
 */
export async function startLoad(target: Target, tally: Tally, seed: number): Promise<Loader[]> {
  const random = new Random(seed);
  const loaders: Loader[] = [];
  try {
    loaders.push(
      await EngineLoad.start(
        'pingpong',
        target,
        tally,
        { firstConnId: 0, connections: 20, depth: 1, size: 64, rate: 2000, connectRate: null, roundTrips: 0 },
        true,
      ),
    );
    loaders.push(
      await EngineLoad.start('bulk', target, tally, {
        firstConnId: 1000,
        connections: 2,
        depth: 128,
        size: 2000,
        rate: 2000,
        connectRate: null,
        roundTrips: 0,
      }),
    );
    loaders.push(
      await EngineLoad.start('churn', target, tally, {
        firstConnId: 10_000,
        connections: 50,
        depth: 1,
        size: 200,
        rate: null,
        connectRate: 20,
        roundTrips: 3,
      }),
    );
  } catch (err) {
    await Promise.all(loaders.map((loader) => loader.stop()));
    throw err;
  }
  loaders.push(new HalfCloseTails(target, tally, random), new SlowReaders(target, tally, random), new Resets(target, tally));
  return loaders;
}
