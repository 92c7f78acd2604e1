// Scenario: one address floods the sockets that are not connections yet (issue 14, items 3–4).
// 300 silent sockets from 127.0.0.1, half to a tls listener (never a ClientHello) and half to a
// ?proxy=optional tcp listener (never a byte), with --max-connections-per-ip 10 and
// --max-connections 100: the per-IP limit must hold from accept, so the flood keeps 10 slots and
// never reaches the global cap (nobody is refused as max_connections), and a newcomer from
// another address is served on both listeners meanwhile. Then clients that FIN mid-handshake
// (half a TLS record; half a PROXY header), 10 at a time from one address: their slots must be
// free at once — the time from their FINs to the same address being served again is the
// slot-free time (before the fix: the 10 s TLS handshake timeout, the 5 s PROXY timeout).
// Bystanders echo from ::1 throughout, apart from the attackers' per-IP counts.
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { getStats } from './admin.js';
import { Recorder, runAttack, type ScenarioResult } from './scenario.js';
import { HOST, mapLimit } from '../../testkit/clients.js';
import { delay } from '../../testkit/wait.js';
import type { ScenarioEchod } from './echod.js';

const SILENT = 300;
const PER_IP = 10;
const MAX_CONNECTIONS = 100;
/** Fewer than PER_IP: the bystanders share ::1, and its limit applies to them too. */
const BYSTANDERS = 8;
const FLOOD_HOLD_MS = 3000;
const FIN_ROUNDS = 10;
/** Served again within this after the FINs (the timeouts it replaces are 5 s and 10 s). */
const SLOT_FREE_BOUND_MS = 1000;
/** A refused socket is closed by echod at accept; a held one stays open longer than this. */
const REFUSED_WITHIN_MS = 500;
const ROUND_TRIP_MS = 2000;
const RETRY_MS = 10;
const FLOODER = '127.0.0.1';
const NEWCOMER = '127.0.0.3';
const FIN_SENDERS = { tls: '127.0.0.2', proxy: '127.0.0.4' } as const;
/** The first bytes of a TLS handshake record (ClientHello, 512 bytes announced): a handshake begun and never finished. */
const HALF_CLIENT_HELLO = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]);
const HALF_PROXY_HEADER = Buffer.from('PROXY TCP4 192.0.2.1 ');

type Kind = 'tls' | 'proxy';

function open(port: number, localAddress: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: HOST, port, localAddress });
    socket.on('error', () => {});
    // Flowing, so echod's close is seen ('end', 'close') without anyone reading.
    socket.resume();
    socket.once('connect', () => resolve(socket));
    socket.once('close', () => reject(new Error('closed before connecting')));
  });
}

/** True if echod closes `socket` within `ms` (refused at accept), false if it keeps it. */
function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  if (socket.destroyed || socket.readableEnded) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    const done = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    socket.once('close', done);
    socket.once('end', done);
  });
}

/** One line echoed over `kind` from `localAddress`: true if it came back whole. */
function roundTrip(kind: Kind, port: number, localAddress: string): Promise<boolean> {
  return new Promise((resolve) => {
    const line = `served ${localAddress}\n`;
    const raw = tcpConnect({ host: HOST, port, localAddress });
    raw.on('error', () => {});
    const socket: Socket = kind === 'tls' ? tlsConnect({ socket: raw, rejectUnauthorized: false }) : raw;
    let got = '';
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      raw.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), ROUND_TRIP_MS);
    socket.on('error', () => finish(false));
    socket.once('close', () => finish(false));
    socket.once(kind === 'tls' ? 'secureConnect' : 'connect', () => socket.write(line));
    socket.on('data', (chunk: Buffer) => {
      got += chunk.toString('latin1');
      if (got === line) finish(true);
    });
  });
}

/** Fills `address`'s per-IP slots with half-begun handshakes, checks one more is refused, FINs them; ms until `address` is served again. */
async function slotFreeTime(kind: Kind, port: number, address: string): Promise<{ ms: number; heldAll: boolean }> {
  const held = await Promise.all(Array.from({ length: PER_IP }, () => open(port, address)));
  for (const socket of held) socket.write(kind === 'tls' ? HALF_CLIENT_HELLO : HALF_PROXY_HEADER);
  const extra = await open(port, address).catch(() => null);
  const heldAll = extra === null || (await closedWithin(extra, REFUSED_WITHIN_MS));
  extra?.destroy();
  const finAt = performance.now();
  for (const socket of held) socket.end();
  let served = false;
  while (!served && performance.now() - finAt < 3 * ROUND_TRIP_MS) {
    served = await roundTrip(kind, port, address);
    if (!served) await delay(RETRY_MS);
  }
  const ms = served ? performance.now() - finAt : Number.POSITIVE_INFINITY;
  for (const socket of held) socket.destroy();
  return { ms, heldAll };
}

function tlsPort(echod: ScenarioEchod): number {
  const line = echod.book.other.find((l) => l.msg === 'listening' && typeof l.listener === 'string' && l.listener.startsWith('tls://'));
  return typeof line?.port === 'number' ? line.port : 0;
}

export async function perIpHandshakeFlood(): Promise<ScenarioResult> {
  const rec = new Recorder('per-ip-handshake-flood', '10. Per-IP flood during TLS handshakes and PROXY headers; FIN mid-handshake');
  rec.load = `${SILENT} silent sockets from ${FLOODER} (half to a tls listener, half to a ?proxy=optional tcp listener) held ${FLOOD_HOLD_MS / 1000} s, then ${FIN_ROUNDS} rounds per listener of ${PER_IP} clients that FIN mid-handshake; ${BYSTANDERS} bystanders echo from ::1`;
  const flags = [
    '--listen',
    'tcp://[::]:0?proxy=optional',
    '--listen',
    'tls://[::]:0',
    '--tls-self-signed',
    '--max-connections',
    String(MAX_CONNECTIONS),
    '--max-connections-per-ip',
    String(PER_IP),
  ];
  return runAttack(rec, { flags, bystanders: BYSTANDERS, bystanderHost: '::1' }, async ({ echod, endAttack }) => {
    const ports: Record<Kind, number> = { proxy: echod.port, tls: tlsPort(echod) };
    if (ports.tls === 0) throw new Error('no tls listening line');

    // The flood: silent sockets, opened as fast as the kernel takes them.
    const floodStart = performance.now();
    const silent = await mapLimit(SILENT, 50, (i) => open(i % 2 === 0 ? ports.tls : ports.proxy, FLOODER).catch(() => null));
    const open300Ms = performance.now() - floodStart;
    await delay(FLOOD_HOLD_MS);
    const stillOpen = (
      await Promise.all(silent.map((socket) => (socket === null ? Promise.resolve(true) : closedWithin(socket, 0))))
    ).filter((closed) => !closed).length;
    const newcomer = { tls: await roundTrip('tls', ports.tls, NEWCOMER), proxy: await roundTrip('proxy', ports.proxy, NEWCOMER) };
    const flood = await getStats(HOST, echod.adminPort);
    for (const socket of silent) socket?.destroy();

    // FIN mid-handshake: how soon the slots are free again.
    const times: Record<Kind, number[]> = { tls: [], proxy: [] };
    let notHeld = 0;
    for (let round = 0; round < FIN_ROUNDS; round++) {
      for (const kind of ['tls', 'proxy'] as const) {
        const { ms, heldAll } = await slotFreeTime(kind, ports[kind], FIN_SENDERS[kind]);
        times[kind].push(ms);
        if (!heldAll) notHeld++;
      }
    }
    await endAttack();
    const after = await getStats(HOST, echod.adminPort);

    const rejected = flood.connections.rejected;
    const reasons = Object.entries(after.connections.rejected)
      .filter(([, count]) => count > 0)
      .map(([reason, count]) => `${reason} ${count}`)
      .join(', ');
    rec.figure(`silent sockets opened (${SILENT}, ${open300Ms.toFixed(0)} ms) still open after ${FLOOD_HOLD_MS / 1000} s`, stillOpen);
    rec.figure(
      'refusals during the flood, by reason',
      `max_connections_per_ip ${rejected.max_connections_per_ip}, max_connections ${rejected.max_connections}`,
    );
    rec.figure('refusals by reason, whole scenario', reasons === '' ? 'none' : reasons);
    const summary = (list: number[]): string => {
      const sorted = [...list].sort((a, b) => a - b);
      return `median ${(sorted[Math.floor(sorted.length / 2)] ?? 0).toFixed(0)} / max ${(sorted[sorted.length - 1] ?? 0).toFixed(0)} ms`;
    };
    rec.figure(`slot-free time after FIN mid-handshake, tls (${FIN_ROUNDS} rounds of ${PER_IP})`, summary(times.tls));
    rec.figure(`slot-free time after FIN mid-PROXY-header (${FIN_ROUNDS} rounds of ${PER_IP})`, summary(times.proxy));

    rec.atMost(`the flood holds at most ${PER_IP} sockets (--max-connections-per-ip, from accept)`, stillOpen, PER_IP);
    rec.atLeast('the rest of the flood refused as max_connections_per_ip', rejected.max_connections_per_ip, SILENT - PER_IP);
    rec.equal('nobody refused as max_connections during the flood', rejected.max_connections, 0);
    rec.equal(
      'a newcomer from another address served during the flood (tls, tcp+PROXY)',
      `${newcomer.tls}, ${newcomer.proxy}`,
      'true, true',
    );
    rec.equal(`every round: ${PER_IP} half-handshakes held the address's slots (one more refused)`, notHeld, 0);
    rec.atMost('slot-free time after FIN mid-handshake (tls, worst)', Math.max(...times.tls), SLOT_FREE_BOUND_MS, ' ms');
    rec.atMost('slot-free time after FIN mid-PROXY-header (worst)', Math.max(...times.proxy), SLOT_FREE_BOUND_MS, ' ms');
  });
}
