// Scenario 6: clients that are strange but not malicious, all at once: half-closed ones,
// half-open ones (they never close their side after echod's FIN), ones that connect and send
// nothing, random bytes, 20,000 one-byte writes, one 32 MiB write read concurrently; and, on
// a second echod in raw mode, random bytes of every value. Every echo must be byte-exact where
// the mode promises it: in line mode every line, and the unterminated tail at half-close; in
// raw mode every byte.
import { createHash } from 'node:crypto';
import { countLines, Client, LOADED_WAIT_MS } from '../../testkit/clients.js';
import { describeExit } from '../../testkit/echod-process.js';
import { ScenarioEchod } from './echod.js';
import { MIB, mib } from './latency.js';
import { MemoryWatch } from './proc.js';
import { Random } from './random.js';
import { BOUNDS, Recorder, runAttack, type ScenarioResult } from './scenario.js';

export const SEED = 0x5eed6;
const IDLE_TIMEOUT_MS = 3000;
const DRAIN_TIMEOUT_MS = 1000;
/** Idle, then drain, each up to two sweeps late, plus scheduling. */
const HALF_OPEN_BOUND_MS = IDLE_TIMEOUT_MS + DRAIN_TIMEOUT_MS + 4 * (DRAIN_TIMEOUT_MS / 10) + 3000;
const HALF_CLOSED = 50;
const HALF_OPEN = 20;
const SILENT = 50;
const RANDOM_CLIENTS = 20;
const RANDOM_BYTES = 256 * 1024;
const TINY_WRITES = 20_000;
const LARGE_WRITE = 32 * MIB;
const RAW_CLIENTS = 10;
const RAW_BYTES = MIB;
const TRANSFER_WAIT_MS = 30_000;

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Writes `pieces` one after another (each handed to the kernel before the next), then half-closes. */
async function writeAll(peer: Client, pieces: readonly Buffer[]): Promise<void> {
  for (const piece of pieces) await peer.write(piece);
  peer.end();
}

/** Lines sent in line mode whose echo never came, summed over the line-mode clients. */
interface Loss {
  lines: number;
}

/** Sends `pieces`, half-closes, and resolves to whether everything came back exactly (length and sha256). */
async function echoesExactly(port: number, payload: Buffer, pieces: readonly Buffer[], loss: Loss | null): Promise<boolean> {
  let linesBack = 0;
  const peer = await Client.connect(port, {
    waitMs: LOADED_WAIT_MS,
    keep: false,
    hash: true,
    onData: (chunk) => (linesBack += countLines(chunk)),
  });
  try {
    await Promise.all([writeAll(peer, pieces), peer.until(() => peer.ended || peer.closed, TRANSFER_WAIT_MS, 'the echo and EOF')]);
    return peer.ended && peer.receivedBytes === payload.length && peer.digest() === sha256(payload);
  } finally {
    if (loss !== null) loss.lines += Math.max(0, countLines(payload) - linesBack);
    peer.destroy();
  }
}

async function lineModeClients(rec: Recorder, echod: ScenarioEchod, random: Random, loss: Loss): Promise<void> {
  const port = echod.port;
  const halfClosed = async (i: number): Promise<boolean> => {
    const payload = Buffer.concat([random.lines(random.int(100, 4000), 80), Buffer.from(`unterminated tail ${i}`)]);
    const peer = await Client.connect(port, { waitMs: LOADED_WAIT_MS });
    await peer.write(payload);
    peer.end();
    const echo = await peer.readToEnd();
    loss.lines += Math.max(0, countLines(payload) - countLines(echo));
    const record = await closeOf(echod, peer.localPort);
    return echo.equals(payload) && record?.reason === 'client_closed';
  };
  const halfOpen = async (i: number): Promise<string> => {
    const peer = await Client.connect(port, { waitMs: LOADED_WAIT_MS, allowHalfOpen: true });
    const line = Buffer.from(`half-open ${i}\n`);
    await peer.write(line);
    const echo = await peer.read(line.length);
    // Now silent, and never closing our side: echod's FIN (idle) gets no answer.
    const record = await closeOf(echod, peer.localPort, HALF_OPEN_BOUND_MS);
    const result =
      echo.equals(line) && peer.ended ? `${record?.reason ?? 'none'}${record?.forced === true ? ' forced' : ''}` : 'wrong echo or no FIN';
    peer.destroy();
    return result;
  };
  const silent = async (): Promise<number> => {
    const peer = await Client.connect(port, { waitMs: LOADED_WAIT_MS });
    const start = performance.now();
    const echo = await peer.readToEnd(IDLE_TIMEOUT_MS * 3);
    const record = await closeOf(echod, peer.localPort);
    return echo.length === 0 && record?.reason === 'idle_timeout' ? performance.now() - start : -1;
  };
  const randomPayloads = Array.from({ length: RANDOM_CLIENTS }, () => random.bytes(RANDOM_BYTES));
  const tinyPayload = random.lines(TINY_WRITES, 100);
  const largePayload = random.lines(LARGE_WRITE, 4096);

  const [closedOk, openResults, silentTimes, randomOk, tinyOk, largeOk] = await Promise.all([
    Promise.all(Array.from({ length: HALF_CLOSED }, (_, i) => halfClosed(i))),
    Promise.all(Array.from({ length: HALF_OPEN }, (_, i) => halfOpen(i))),
    Promise.all(Array.from({ length: SILENT }, () => silent())),
    Promise.all(randomPayloads.map((payload) => echoesExactly(port, payload, random.split(payload, 8192), loss))),
    echoesExactly(port, tinyPayload, random.split(tinyPayload, 1), loss),
    echoesExactly(port, largePayload, [largePayload], loss),
  ]);
  rec.equal(
    `half-closed (${HALF_CLOSED}): lines and unterminated tail echoed byte-exact, then EOF, client_closed`,
    closedOk.filter(Boolean).length,
    HALF_CLOSED,
  );
  const forced = openResults.filter((r) => r === 'idle_timeout forced').length;
  rec.check(
    `half-open (${HALF_OPEN}, never answer echod's FIN): idle_timeout, destroyed after --drain-timeout (forced)`,
    forced === HALF_OPEN,
    `${forced} of ${HALF_OPEN}${forced < HALF_OPEN ? `: ${[...new Set(openResults)].join(', ')}` : ''}`,
  );
  const idle = silentTimes.filter((ms) => ms >= IDLE_TIMEOUT_MS);
  rec.check(
    `connect and send nothing (${SILENT}): EOF with nothing echoed after --idle-timeout, idle_timeout`,
    idle.length === SILENT,
    `${idle.length} of ${SILENT}; after ${Math.round(Math.min(...silentTimes))}–${Math.round(Math.max(...silentTimes))} ms`,
  );
  rec.equal(
    `random bytes (${RANDOM_CLIENTS} × ${RANDOM_BYTES / 1024} KiB in 1–8192-byte writes), then half-close: echo byte-exact`,
    randomOk.filter(Boolean).length,
    RANDOM_CLIENTS,
  );
  rec.check(`${TINY_WRITES} one-byte writes: echo byte-exact`, tinyOk, tinyOk ? 'sha256 and length match' : 'mismatch');
  rec.check(`one ${mib(LARGE_WRITE)} write, read concurrently: echo byte-exact`, largeOk, largeOk ? 'sha256 and length match' : 'mismatch');
}

async function rawModeClients(rec: Recorder, random: Random): Promise<void> {
  const raw = await ScenarioEchod.start(['--mode', 'raw']);
  try {
    const memory = new MemoryWatch(raw.pid);
    const payloads = Array.from({ length: RAW_CLIENTS }, () => random.bytes(RAW_BYTES));
    const large = random.bytes(LARGE_WRITE);
    const [rawOk, largeOk] = await Promise.all([
      Promise.all(payloads.map((payload) => echoesExactly(raw.port, payload, random.split(payload, 8192), null))),
      echoesExactly(raw.port, large, [large], null),
    ]);
    rec.equal(
      `raw mode: random bytes (${RAW_CLIENTS} × ${mib(RAW_BYTES)}, no line structure) echoed byte-exact`,
      rawOk.filter(Boolean).length,
      RAW_CLIENTS,
    );
    rec.check(
      `raw mode: one ${mib(LARGE_WRITE)} write of random bytes echoed byte-exact`,
      largeOk,
      largeOk ? 'sha256 and length match' : 'mismatch',
    );
    const { beforeBytes, peakBytes } = memory.stop();
    rec.figure('raw-mode echod memory', `${mib(beforeBytes)} → peak ${mib(peakBytes)}`);
    rec.check('raw mode: memory growth under 64 MiB', peakBytes - beforeBytes < BOUNDS.memoryGrowthBytes, mib(peakBytes - beforeBytes));
    const exit = await raw.terminate();
    rec.check('raw-mode echod: SIGTERM, exit code 0', exit.code === 0 && !exit.killed, describeExit(exit));
  } finally {
    raw.kill();
  }
}

async function closeOf(echod: ScenarioEchod, localPort: number, ms = 5000): Promise<ReturnType<typeof echod.book.closeByRemotePort.get>> {
  try {
    await echod.until(() => echod.book.closeByRemotePort.has(localPort), `the close of the connection from port ${localPort}`, ms);
  } catch {
    return undefined;
  }
  return echod.book.closeByRemotePort.get(localPort);
}

export async function oddClients(): Promise<ScenarioResult> {
  const rec = new Recorder('odd-clients', '6. Half-open, half-closed, silent, random, tiny and huge writes');
  rec.load =
    `line mode, all at once: ${HALF_CLOSED} half-closed, ${HALF_OPEN} half-open, ${SILENT} silent, ${RANDOM_CLIENTS} × ${RANDOM_BYTES / 1024} KiB random bytes, ` +
    `${TINY_WRITES} one-byte writes, one ${mib(LARGE_WRITE)} write; raw mode: ${RAW_CLIENTS} × ${mib(RAW_BYTES)} random + one ${mib(LARGE_WRITE)} write; seed ${SEED}`;
  const flags = ['--idle-timeout', `${IDLE_TIMEOUT_MS / 1000}s`, '--drain-timeout', `${DRAIN_TIMEOUT_MS / 1000}s`];
  return runAttack(rec, { flags }, async ({ echod, endAttack }) => {
    const random = new Random(SEED);
    const loss: Loss = { lines: 0 };
    await lineModeClients(rec, echod, random, loss);
    rec.linesLost = loss.lines;
    await endAttack();
    await rawModeClients(rec, random);
  });
}
