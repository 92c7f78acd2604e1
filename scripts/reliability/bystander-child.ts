// The bystander pool's process (see bystanders.ts): `config.clients` connections, each sending
// one line, timing its echo, checking it byte for byte, pausing `intervalMs`, and again, until
// the parent says stop. Latencies are kept per window and summarized on request.
import { Client, LOADED_WAIT_MS } from '../../testkit/clients.js';
import type { BystanderConfig, BystanderWindow, FromChild, ToChild } from './bystanders.js';
import { summarize } from './latency.js';
import { delay } from '../../testkit/wait.js';

const MAX_ERROR_SAMPLES = 5;
const CLOSE_WAIT_MS = 5000;

const config = JSON.parse(process.argv[2] ?? '{}') as BystanderConfig;
let latencies: number[] = [];
let echoes = 0;
let errors = 0;
let errorSamples: string[] = [];
let stopping = false;

function send(message: FromChild): void {
  process.send?.(message);
}

function recordError(message: string): void {
  errors++;
  if (errorSamples.length < MAX_ERROR_SAMPLES) errorSamples.push(message);
}

function takeWindow(): BystanderWindow {
  const window: BystanderWindow = { latency: summarize(latencies), echoes, errors, errorSamples };
  latencies = [];
  echoes = 0;
  errors = 0;
  errorSamples = [];
  return window;
}

function line(client: number, seq: number): Buffer {
  const head = `bystander ${client} line ${seq} `;
  return Buffer.from(`${head.padEnd(config.lineBytes - 1, '.')}\n`, 'latin1');
}

/** One round trip; true if the connection can go on. */
async function roundTrip(peer: Client, client: number, seq: number): Promise<boolean> {
  const sent = line(client, seq);
  const start = performance.now();
  try {
    peer.socket.write(sent);
    const got = await peer.read(sent.length, config.timeoutMs);
    const elapsed = performance.now() - start;
    if (!got.equals(sent)) {
      recordError(`bystander ${client}: wrong echo for line ${seq}`);
      return false;
    }
    latencies.push(elapsed);
    echoes++;
    return true;
  } catch (err) {
    recordError(`bystander ${client}: line ${seq}: ${(err as Error).message}`);
    return false;
  }
}

async function run(peer: Client, client: number, ready: () => void): Promise<void> {
  let seq = 0;
  const first = await roundTrip(peer, client, seq++);
  ready();
  if (!first) return;
  while (!stopping) {
    await delay(config.intervalMs);
    if (stopping) break;
    if (!(await roundTrip(peer, client, seq++))) return;
  }
}

async function main(): Promise<void> {
  const peers = await Promise.all(
    Array.from({ length: config.clients }, () => Client.connect(config.port, { waitMs: LOADED_WAIT_MS, host: config.host })),
  );
  let warm = 0;
  const loops = peers.map((peer, index) =>
    run(peer, index, () => {
      if (++warm === peers.length) {
        takeWindow(); // the first round trips include connection warm-up: not part of any window
        send({ type: 'ready' });
      }
    }),
  );
  let finished = false;
  process.on('message', (message: ToChild) => {
    if (message.type === 'window') {
      send({ type: 'window', id: message.id, window: takeWindow() });
      return;
    }
    stopping = true;
    void (async () => {
      await Promise.all(loops);
      if (!finished) {
        finished = true;
        for (const peer of peers) peer.end();
        await Promise.allSettled(peers.map((peer) => peer.waitClosed(CLOSE_WAIT_MS)));
      }
      const lost = peers.filter((peer) => peer.error !== null).length;
      if (lost > 0) recordError(`${lost} bystander connections ended in an error`);
      send({ type: 'window', id: message.id, window: takeWindow() });
      process.disconnect();
    })();
  });
}

main().catch((err: unknown) => {
  send({ type: 'fatal', message: err instanceof Error ? err.message : String(err) });
  process.exitCode = 1;
  process.disconnect();
});
