/**
 * How long a UDP bench socket waits for a datagram's echo before it counts the datagram lost and
 * sends the next one. UDP loses datagrams (a full receive buffer, a server's per-source limit),
 * and a slot waiting the whole `--timeout` for each lost one would stall for most of the run.
 *
 * The deadline is TCP's retransmission timeout (RFC 6298 §2), from the round trips this engine's
 * sockets observe: SRTT + max(G, 4 × RTTVAR) with α = 1/8, β = 1/4 and G the engine's deadline
 * scan interval; at least {@link LOSS_DEADLINE_MIN_MS} (Linux's TCP_RTO_MIN, so that a pause of the
 * client or the server is not taken for loss), at most `--timeout`; before any round trip is
 * measured, 1 s (RFC 6298 §2.1) or `--timeout` if that is shorter.
 *
 * There is no exponential backoff (§5.5): it protects a network from retransmissions, and bench
 * retransmits nothing; what it sends after a loss is the next message of a closed loop, so it
 * never has more than `--connections × --depth` datagrams out whatever it loses.
 */

/** The floor of the deadline, ms. */
export const LOSS_DEADLINE_MIN_MS = 200;
/** Before the first round trip is measured, ms. */
const INITIAL_DEADLINE_MS = 1000;
const ALPHA = 1 / 8;
const BETA = 1 / 4;
const K = 4;

export class LossDeadline {
  /** The deadline now, ms. */
  ms: number;
  private readonly timeoutMs: number;
  private readonly granularityMs: number;
  private srtt = 0;
  private rttvar = 0;
  private measured = false;

  /** `timeoutMs`: `--timeout`, the most a datagram is waited for; `granularityMs`: how often deadlines are looked at. */
  constructor(timeoutMs: number, granularityMs: number) {
    this.timeoutMs = timeoutMs;
    this.granularityMs = granularityMs;
    this.ms = Math.min(timeoutMs, INITIAL_DEADLINE_MS);
  }

  /** One round trip observed, ms. */
  sample(rttMs: number): void {
    if (!this.measured) {
      this.srtt = rttMs;
      this.rttvar = rttMs / 2;
      this.measured = true;
    } else {
      this.rttvar = (1 - BETA) * this.rttvar + BETA * Math.abs(this.srtt - rttMs);
      this.srtt = (1 - ALPHA) * this.srtt + ALPHA * rttMs;
    }
    const rto = this.srtt + Math.max(this.granularityMs, K * this.rttvar);
    this.ms = Math.min(this.timeoutMs, Math.max(LOSS_DEADLINE_MIN_MS, rto));
  }
}
