// The soak's mixed load: ping-pong, bulk, churn, slow readers and resets, each verifying every
// echo it gets back. Every loader paces itself, runs until stop() and then says goodbye
// properly; a wrong echo or an unexpected disconnect is counted, never thrown.
import { Client, type ClientOptions, LOADED_WAIT_MS } from '../../testkit/clients.js';
import { Random } from '../reliability/random.js';
import { delay } from '../../testkit/wait.js';

const MAX_ERROR_SAMPLES = 10;
const ECHO_WAIT_MS = 10_000;
/** After an unexpected disconnect, a persistent loader waits this long before it reconnects. */
const RECONNECT_PAUSE_MS = 200;

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
  /** Ping-pong round trips (ms), the latest ones. */
  readonly latencies: number[] = [];

  wrong(what: string): void {
    this.wrongEchoes++;
    this.sample(`wrong echo: ${what}`);
  }

  error(what: string): void {
    this.clientErrors++;
    this.sample(what);
  }

  latency(ms: number): void {
    this.latencies.push(ms);
    if (this.latencies.length > 100_000) this.latencies.splice(0, 50_000);
  }

  private sample(text: string): void {
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

/** `clients` connections, each: a line, its echo (timed, compared), a pause, again. */
export class PingPong extends LoopLoader {
  readonly name = 'pingpong';

  constructor(target: Target, tally: Tally, clients = 20, everyMs = 10) {
    super();
    for (let c = 0; c < clients; c++) {
      this.spawn(async () => {
        let seq = 0;
        while (!this.stopping) {
          let peer: Client;
          try {
            peer = await connect(target);
          } catch (err) {
            tally.error(`pingpong connect: ${(err as Error).message}`);
            await delay(RECONNECT_PAUSE_MS);
            continue;
          }
          try {
            while (!this.stopping) {
              const line = Buffer.from(`pingpong ${c} ${seq++} ${'.'.repeat(seq % 50)}\n`);
              const start = performance.now();
              peer.socket.write(line);
              const echo = await peer.read(line.length, ECHO_WAIT_MS);
              tally.latency(performance.now() - start);
              if (!echo.equals(line)) {
                tally.wrong(`pingpong ${c} line ${seq}`);
                break;
              }
              tally.echoes++;
              tally.bytesVerified += line.length;
              await delay(everyMs);
            }
            if (this.stopping) {
              peer.end();
              await peer.readToEnd(ECHO_WAIT_MS);
            }
          } catch (err) {
            tally.error(`pingpong ${c}: ${(err as Error).message}`);
            await delay(RECONNECT_PAUSE_MS);
          } finally {
            peer.destroy();
          }
        }
      });
    }
  }
}

/** `clients` connections, each: a block of lines written at once, its echo verified as it streams back, a pause. */
export class Bulk extends LoopLoader {
  readonly name = 'bulk';

  constructor(target: Target, tally: Tally, random: Random, clients = 2, blockBytes = 256 * 1024, pauseMs = 100) {
    super();
    // Each block ends a line, so its whole echo comes back before the next block is sent.
    const blocks = Array.from({ length: 4 }, () => {
      const block = random.lines(blockBytes, 2000);
      block[block.length - 1] = 0x0a;
      return block;
    });
    for (let c = 0; c < clients; c++) {
      this.spawn(async () => {
        let n = 0;
        while (!this.stopping) {
          const verifier = new StreamVerifier();
          let peer: Client;
          try {
            peer = await connect(target, { keep: false, onData: (chunk) => verifier.received(chunk) });
          } catch (err) {
            tally.error(`bulk connect: ${(err as Error).message}`);
            await delay(RECONNECT_PAUSE_MS);
            continue;
          }
          try {
            while (!this.stopping) {
              const block = blocks[n++ % blocks.length] as Buffer;
              verifier.sent(block);
              await peer.write(block);
              await peer.until(() => verifier.outstanding <= 0 || !verifier.ok || peer.closed, ECHO_WAIT_MS, 'a bulk echo');
              if (!verifier.ok) {
                tally.wrong(`bulk ${c} block ${n}`);
                break;
              }
              if (peer.closed) throw new Error('closed by the server');
              tally.echoes++;
              tally.bytesVerified += block.length;
              await delay(pauseMs);
            }
            if (this.stopping) {
              peer.end();
              await peer.waitEndOrClose(ECHO_WAIT_MS);
            }
          } catch (err) {
            tally.error(`bulk ${c}: ${(err as Error).message}`);
            await delay(RECONNECT_PAUSE_MS);
          } finally {
            peer.destroy();
          }
        }
      });
    }
  }
}

/**
 * New connections at `perSecond`: each sends a few lines and an unterminated tail, half-closes,
 * and must get exactly all of it back before EOF.
 */
export class Churn extends LoopLoader {
  readonly name = 'churn';

  constructor(target: Target, tally: Tally, random: Random, perSecond = 20, maxInFlight = 50) {
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
          if (!echo.equals(payload)) tally.wrong(`churn connection ${i}`);
          else {
            tally.echoes++;
            tally.bytesVerified += payload.length;
          }
        } finally {
          peer.destroy();
        }
      } catch (err) {
        tally.error(`churn ${i}: ${(err as Error).message}`);
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
              if (!verifier.ok || verifier.outstanding !== 0) tally.wrong(`slow reader ${c}: ${verifier.outstanding} bytes missing at the end`);
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

/** The whole mix on one echod. */
export function startLoad(target: Target, tally: Tally, seed: number): Loader[] {
  const random = new Random(seed);
  return [
    new PingPong(target, tally),
    new Bulk(target, tally, random),
    new Churn(target, tally, random),
    new SlowReaders(target, tally, random),
    new Resets(target, tally),
  ];
}
