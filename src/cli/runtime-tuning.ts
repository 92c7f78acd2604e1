/**
 * Three adjustments to the processes of the `echod` command. The first two remove stalls in
 * bulk echo that come from Node allocating a fresh buffer for every socket read; the third
 * keeps V8's young generation in the CPU caches (except where HTTP is served). Measurements:
 * docs/performance.md ("What was slowing bulk16k down, and the fix").
 *
 * Only for the command's processes on Node: a library must not retune its host process, and
 * Bun has its own allocator and collector. Adjustments 1 and 3 must be made before the rest of
 * echod loads, so bin/echod.js calls `tuneBeforeLoading()` first.
 *
 * 1. malloc's trim threshold. glibc returns the top of its heap to the kernel whenever more
 *    than the trim threshold (128 KiB at start) is free there, and the next reads fault those
 *    pages back in. glibc raises the threshold to twice the size of the first large mmap'ed
 *    block it frees, so one 24 MiB buffer allocated and dropped at start-up moves it to 48 MiB,
 *    above the ~32 MiB of read buffers a scavenge frees at once. (MALLOC_TRIM_THRESHOLD_ does
 *    the same, but a process cannot set its own environment before malloc reads it.)
 *
 * 2. V8's heap headroom. A scavenge frees read buffers only once ~32 MiB of them have piled
 *    up, and V8 counts external memory allocated since the last mark-compact against the old
 *    generation's limit. When that limit sits less than ~48 MiB above the live heap — where
 *    echod's ~9 MiB of loaded code (pino, prom-client) puts it after an early mark-compact —
 *    every 32 MiB read starts a new marking cycle. V8's growth factor (`--heap-growing-percent`)
 *    is set so that its next limit lies at least `HEADROOM_BYTES` above the old generation, and
 *    handed back to V8's own heuristics (0) once the old generation alone is that large or reads
 *    slow down; checked every second. A `--heap-growing-percent` the user gave (NODE_OPTIONS or node's arguments)
 *    is left alone.
 */
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

export const HEADROOM_BYTES = 64 * 1024 * 1024;
/** Below this read rate a scavenge's worth of read buffers takes over a second: no headroom needed. */
export const FAST_READ_BYTES_PER_S = 32 * 1024 * 1024;
const CHECK_EVERY_MS = 1_000;
const GROWING_FLAG = 'heap-growing-percent';
/** Spaces that make up V8's old generation (names differ slightly between V8 versions). */
const OLD_SPACES: ReadonlySet<string> = new Set(['old_space', 'code_space', 'map_space', 'large_object_space', 'code_large_object_space']);
/** The block whose release raises glibc's trim threshold to twice its size (at most 32 MiB). */
export const MALLOC_WARMUP_BYTES = 24 * 1024 * 1024;

/**
 * The growth percentage for V8's next old-generation limit: while reads run at
 * `FAST_READ_BYTES_PER_S` or more, one that puts the limit `HEADROOM_BYTES` above `oldBytes`;
 * otherwise, or once the old generation alone is that large, 0 (V8 decides, as usual).
 */
export function growingPercentFor(oldBytes: number, readBytesPerSecond: number): number {
  if (readBytesPerSecond < FAST_READ_BYTES_PER_S || oldBytes >= HEADROOM_BYTES) return 0;
  return Math.ceil((HEADROOM_BYTES / Math.max(oldBytes, 1024 * 1024)) * 100);
}

function oldGenerationBytes(): number {
  let total = 0;
  for (const space of getHeapSpaceStatistics()) if (OLD_SPACES.has(space.space_name)) total += space.space_used_size;
  return total;
}

/** True when the user set a V8 flag containing `name` themselves (node's arguments or NODE_OPTIONS). */
function userSet(name: string, env: NodeJS.ProcessEnv): boolean {
  return process.execArgv.some((arg) => arg.includes(name)) || (env.NODE_OPTIONS ?? '').includes(name);
}

/**
 * 3. V8's young generation stays at its starting size (1 MiB semi-spaces here). Loading echod's
 *    modules would make V8 grow it to 16 MiB, which no longer fits the CPU caches and makes
 *    each scavenge longer. Must run before the rest of echod is loaded; a semi-space flag the
 *    user gave is left alone. Not when the command serves (or loads) HTTP: a request allocates
 *    5–7 KB (node:http's own objects ~4 KB), so 1 MiB semi-spaces mean a scavenge every ~200
 *    requests, which cost more than the cache misses saved (docs/performance.md, "HTTP").
 */
function boundYoungGeneration(argv: readonly string[], env: NodeJS.ProcessEnv): void {
  if (userSet('semi-space', env) || speaksHttp(argv, env)) return;
  setFlagsFromString('--semi-space-growth-factor=1');
}

/** An http, https, ws or wss URL (plain or +unix), alone or as `--listen=URL`. */
const HTTP_URL = /^(?:--listen=)?(?:https?|wss?)(?:\+unix)?:\/\//i;

/**
 * Whether the command line or ECHOD_LISTEN names an HTTP or WebSocket URL: a listener, or the
 * target of `echod bench` / `echod check`. A scan before the flags are parsed (this runs before
 * echod loads), so it errs towards HTTP: any argument shaped like such a URL counts.
 */
export function speaksHttp(argv: readonly string[], env: NodeJS.ProcessEnv): boolean {
  const listen = (env.ECHOD_LISTEN ?? '').split(/\s+/);
  return argv.some((arg) => HTTP_URL.test(arg)) || listen.some((url) => HTTP_URL.test(url));
}

/**
 * Adjustments 1 and 3, which must be made before the rest of echod loads: the young
 * generation's bound before modules fill it, and the malloc block early enough that the
 * scavenges of loading free it before the first connection (freed later, the first seconds of
 * bulk reads would still fault). A no-op on Bun.
 */
export function tuneBeforeLoading(env: NodeJS.ProcessEnv = process.env, argv: readonly string[] = process.argv.slice(2)): void {
  if (process.versions.bun !== undefined) return;
  boundYoungGeneration(argv, env);
  raiseMallocTrimThreshold();
}

/**
 * Applies adjustment 2; `readBytes` is the total read so far by the process's server.
 * Returns the function that stops the headroom checks and hands the growth factor back to V8.
 * A no-op (returning a no-op) on Bun.
 */
export function tuneRuntime(readBytes: () => number, env: NodeJS.ProcessEnv = process.env): () => void {
  if (process.versions.bun !== undefined || userSet(GROWING_FLAG, env)) return () => {};
  return keepHeapHeadroom(readBytes);
}

/**
 * Allocates one block above malloc's mmap threshold and drops it; the next scavenge frees it,
 * and glibc then keeps up to twice its size free at the top of its heap instead of 128 KiB.
 */
function raiseMallocTrimThreshold(): void {
  const block = Buffer.allocUnsafeSlow(MALLOC_WARMUP_BYTES);
  block[0] = 0; // touched, so no allocator can skip it
}

/**
 * Once a second: headroom while reads are fast, V8's own heuristics otherwise, so that idle
 * and merely held connections are collected as tightly as without it.
 */
function keepHeapHeadroom(readBytes: () => number): () => void {
  let current = 0;
  let lastRead = readBytes();
  const set = (percent: number): void => {
    if (percent === current) return;
    current = percent;
    setFlagsFromString(`--${GROWING_FLAG}=${percent}`);
  };
  const timer = setInterval(() => {
    const read = readBytes();
    set(growingPercentFor(oldGenerationBytes(), ((read - lastRead) * 1000) / CHECK_EVERY_MS));
    lastRead = read;
  }, CHECK_EVERY_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    set(0);
  };
}
