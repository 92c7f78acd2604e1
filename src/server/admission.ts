/**
 * Admission: who may take a connection slot, decided in one place for every accept path
 * (node tcp, unix, tls, PROXY, the direct-read path, Bun). Pure: no sockets, no clock, no
 * logging; the caller counts and logs the refusals this returns.
 *
 * A socket claims its slot the moment it is accepted and keeps it until it closes:
 *
 *   hold(address) ──identify(address')──▶ admit() ──▶ open … close(address)
 *        │                 │                 │
 *        └──── release() ──┴──── (refused) ──┘
 *
 * - `maxConnections` bounds held and open sockets together, so sockets still in their TLS
 *   handshake or reading their PROXY header cannot push the total past it.
 * - `maxConnectionsPerIp` bounds held and open sockets of one address together, from accept:
 *   a held socket counts under its own peer address until a PROXY header names the client,
 *   then under the client's (re-checked then). So one address cannot fill the server with
 *   silent sockets that never finish a handshake or a header.
 * - `refuseRate` (the `--refuse-rate` fault) refuses at admission, once a socket could be served.
 *
 * An address of '' (a peer gone before it was accepted) counts against maxConnections only;
 * without a per-address limit no address is counted at all.
 */

/** Why admission refused a socket (each one a `rejected` reason in /stats and the metrics). */
export type AdmissionRejection = 'max_connections' | 'max_connections_per_ip' | 'fault_refused';

export interface AdmissionLimits {
  /** Held and open sockets at most; 0 = no limit. */
  maxConnections: number;
  /** Held and open sockets per address at most; 0 = no limit. */
  maxConnectionsPerIp: number;
}

/** One accepted socket's claim on a slot, until it is admitted or released. */
export class Slot {
  /** The address it counts under: the socket's peer, or the client its PROXY header named. */
  address: string;
  state: 'held' | 'open' | 'released' = 'held';

  constructor(address: string) {
    this.address = address;
  }
}

export class AdmissionControl {
  private readonly limits: Readonly<AdmissionLimits>;
  /** In [0, 1): the refuse-rate fault's dice (injectable for tests). */
  private readonly random: () => number;
  private heldCount = 0;
  private openCount = 0;
  /** Held and open sockets per address; absent = 0. */
  private readonly perAddress = new Map<string, number>();

  constructor(limits: Readonly<AdmissionLimits>, random: () => number = Math.random) {
    this.limits = limits;
    this.random = random;
  }

  /** Sockets accepted and not yet admitted (PROXY header, TLS handshake). */
  get held(): number {
    return this.heldCount;
  }

  /** Sockets admitted and not yet closed. */
  get open(): number {
    return this.openCount;
  }

  /** Held and open sockets counted under `address`. */
  countOf(address: string): number {
    return this.perAddress.get(address) ?? 0;
  }

  /** A socket was accepted: claims its slot under its own address, or says why not (nothing is counted then). */
  hold(address: string): Slot | AdmissionRejection {
    const full = this.noRoomFor(address);
    if (full !== null) return full;
    this.heldCount++;
    this.add(address, 1);
    return new Slot(address);
  }

  /**
   * A held socket's PROXY header named its client: from now on it counts under `address`, if
   * that address has room. Refused: the slot is released. A slot no longer held is refused as full.
   */
  identify(slot: Slot, address: string): AdmissionRejection | null {
    if (slot.state !== 'held') return 'max_connections';
    if (address === slot.address) return null;
    if (this.atAddressLimit(address, this.limits.maxConnectionsPerIp)) {
      this.release(slot);
      return 'max_connections_per_ip';
    }
    this.add(slot.address, -1);
    this.add(address, 1);
    slot.address = address;
    return null;
  }

  /**
   * A held socket is ready to be served (as `address`: identified first if it differs): it
   * becomes an open connection unless the refuse-rate fault says otherwise (`refuseRate` in
   * [0, 1]). Refused: the slot is released. Closing it later is `close(slot.address)`.
   */
  admit(slot: Slot, address: string, refuseRate = 0): AdmissionRejection | null {
    const refused = this.identify(slot, address);
    if (refused !== null) return refused;
    if (this.faultRefuses(refuseRate)) {
      this.release(slot);
      return 'fault_refused';
    }
    slot.state = 'open';
    this.heldCount--;
    this.openCount++;
    return null;
  }

  /**
   * `hold` and `admit` at once: a socket that can be served as soon as it is accepted. The same
   * checks in the same order, without the slot object the two steps pass between them (this is
   * every plain tcp and unix accept).
   */
  admitNow(address: string, refuseRate = 0): AdmissionRejection | null {
    const full = this.noRoomFor(address);
    if (full !== null) return full;
    if (this.faultRefuses(refuseRate)) return 'fault_refused';
    this.openCount++;
    this.add(address, 1);
    return null;
  }

  /** A held socket closed or was refused before it was admitted: its slot is free. Harmless to repeat, or after admission. */
  release(slot: Slot): void {
    if (slot.state !== 'held') return;
    slot.state = 'released';
    this.heldCount--;
    this.add(slot.address, -1);
  }

  /** An open connection counted under `address` closed. */
  close(address: string): void {
    if (this.openCount === 0) return;
    this.openCount--;
    this.add(address, -1);
  }

  /** Why one more socket at `address` may not take a slot now, or null: there is room. */
  private noRoomFor(address: string): AdmissionRejection | null {
    const { maxConnections, maxConnectionsPerIp } = this.limits;
    if (maxConnections > 0 && this.heldCount + this.openCount >= maxConnections) return 'max_connections';
    if (this.atAddressLimit(address, maxConnectionsPerIp)) return 'max_connections_per_ip';
    return null;
  }

  /** The refuse-rate fault's dice (`refuseRate` in [0, 1]). */
  private faultRefuses(refuseRate: number): boolean {
    return refuseRate > 0 && this.random() < refuseRate;
  }

  private atAddressLimit(address: string, limit: number): boolean {
    return limit > 0 && address !== '' && this.countOf(address) >= limit;
  }

  private add(address: string, delta: 1 | -1): void {
    // Without a per-address limit nothing reads the counts: keep none (one entry per address otherwise).
    if (address === '' || this.limits.maxConnectionsPerIp === 0) return;
    const count = this.countOf(address) + delta;
    if (count > 0) this.perAddress.set(address, count);
    else this.perAddress.delete(address);
  }
}
