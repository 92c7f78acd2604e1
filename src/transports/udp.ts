/**
 * UDP echo (RFC 862): each datagram is answered once, to its sender, with the same payload.
 *
 * Safe by default on a public address: a reply is never larger than its request (it is the
 * request); each source address gets at most `ratePerSource` datagrams from us per second,
 * every one sent counted, a duplicate-fault copy included (the rest are dropped and counted), so
 * no fault makes echod an amplifier; and datagrams from the well-known ports of echo-like services are
 * dropped, so two reflectors cannot be made to bounce packets between each other forever.
 */
import { type Socket as DgramSocket, createSocket } from 'node:dgram';
import { once } from 'node:events';
import { isIPv6 } from 'node:net';
import type { Logger } from '../core/log.js';
import type { ResolvedListener } from '../config/options.js';
import type { UdpCounters, UdpDropReason } from '../core/stats.js';

/** echo (7), daytime (13), qotd (17), chargen (19), time (37): services that answer anything. */
export const REFLECTION_PORTS: ReadonlySet<number> = new Set([7, 13, 17, 19, 37]);
/** Sources tracked for the rate limit in one second, at most; past it, new sources wait for the next second. */
export const MAX_TRACKED_SOURCES = 100_000;
const RATE_WINDOW_MS = 1000;

/** A reorder window that does not fill is released after this long anyway. */
export const REORDER_FLUSH_MS = 100;

/**
 * Where drops are logged: a flood of them must not become a line per datagram, so the server
 * hands in an aggregating log (the first drop of a reason at once, then a count per window).
 */
export interface UdpDropLog {
  record(reason: UdpDropReason, details: object): void;
}

export class UdpEchoListener {
  readonly config: ResolvedListener;
  private readonly socket: DgramSocket;
  private readonly counters: UdpCounters;
  private readonly ratePerSource: number;
  private readonly logger: Logger;
  private readonly drops: UdpDropLog;
  /** Datagrams sent to each source address in the current second. */
  private window = new Map<string, number>();
  private readonly windowTimer: NodeJS.Timeout;
  /** Reorder fault: answers held back, released shuffled. */
  private held: { message: Buffer; address: string; port: number }[] = [];
  private heldTimer: NodeJS.Timeout | null = null;

  constructor(config: ResolvedListener, ratePerSource: number, counters: UdpCounters, logger: Logger, drops: UdpDropLog) {
    this.config = config;
    this.ratePerSource = ratePerSource;
    this.counters = counters;
    this.logger = logger;
    this.drops = drops;
    this.socket = createSocket({ type: isIPv6(config.host) ? 'udp6' : 'udp4', reuseAddr: false });
    this.socket.on('message', (message, remote) => this.onMessage(message, remote.address, remote.port));
    this.socket.on('error', (err) => this.logger.error({ err }, 'udp listener error'));
    this.windowTimer = setInterval(() => {
      this.window = new Map();
    }, RATE_WINDOW_MS);
    this.windowTimer.unref();
  }

  async listen(): Promise<void> {
    const listening = once(this.socket, 'listening');
    if (this.config.fd !== null) this.socket.bind({ fd: this.config.fd });
    else this.socket.bind({ address: this.config.host, port: this.config.port });
    await listening;
  }

  address(): { address: string; family: string; port: number } {
    return this.socket.address();
  }

  stop(): Promise<void> {
    clearInterval(this.windowTimer);
    if (this.heldTimer !== null) clearTimeout(this.heldTimer);
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private onMessage(message: Buffer, address: string, port: number): void {
    const counters = this.counters;
    counters.received++;
    counters.bytesReceived += message.length;
    if (REFLECTION_PORTS.has(port)) {
      this.drop('reflection_port', address, port);
      return;
    }
    if (!this.spend(address)) {
      this.drop('rate_limited', address, port);
      return;
    }
    const faults = this.config.faults;
    if (faults !== null) {
      if (faults.dropRate !== undefined && Math.random() < faults.dropRate) {
        this.drop('fault_drop', address, port);
        return;
      }
      // The copy is a datagram sent like any other: only within the source's budget. The
      // datagram itself is still answered, so a copy left unsent is not a drop.
      if (faults.duplicateRate !== undefined && Math.random() < faults.duplicateRate && this.spend(address)) {
        counters.duplicated++;
        this.reply(message, address, port);
      }
      if (faults.reorderWindow !== undefined && faults.reorderWindow > 1) {
        this.held.push({ message, address, port });
        if (this.held.length >= faults.reorderWindow) this.releaseHeld();
        else this.heldTimer ??= setTimeout(() => this.releaseHeld(), REORDER_FLUSH_MS);
        return;
      }
    }
    this.reply(message, address, port);
  }

  private drop(reason: UdpDropReason, address: string, port: number): void {
    this.counters.dropped[reason]++;
    this.drops.record(reason, { remote: address, remotePort: port });
  }

  /**
   * Takes one datagram from `address`'s budget for this second: false when it is spent (or when
   * too many sources are tracked already). Every reply is sent only after this said true.
   */
  private spend(address: string): boolean {
    if (this.ratePerSource <= 0) return true;
    const sent = this.window.get(address);
    if (sent === undefined) {
      if (this.window.size >= MAX_TRACKED_SOURCES) return false;
      this.window.set(address, 1);
      return true;
    }
    if (sent >= this.ratePerSource) return false;
    this.window.set(address, sent + 1);
    return true;
  }

  /** Sends the held answers in a random order (Fisher–Yates). */
  private releaseHeld(): void {
    if (this.heldTimer !== null) clearTimeout(this.heldTimer);
    this.heldTimer = null;
    const held = this.held;
    this.held = [];
    for (let i = held.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [held[i], held[j]] = [held[j] as (typeof held)[number], held[i] as (typeof held)[number]];
    }
    for (const { message, address, port } of held) this.reply(message, address, port);
  }

  private reply(message: Buffer, address: string, port: number): void {
    const counters = this.counters;
    this.socket.send(message, port, address, (err) => {
      if (err !== null) {
        this.logger.debug({ err, remote: address, remotePort: port }, 'udp reply failed');
        return;
      }
      counters.echoed++;
      counters.bytesSent += message.length;
    });
  }
}
