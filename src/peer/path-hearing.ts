/**
 * What a link has heard on its current UDP path, and whether the path still answers: the two
 * clocks behind `PeerLink`'s quiet rule (a new session off a quiet path means the remote has no
 * use for it) and its stall rule (data in flight, nothing back: the remote sends elsewhere, or
 * the path died one way — AGREEMENT in peer-link-types.ts), and its ping rule (pings are not
 * reliable data, so nothing is "in flight" for them: two pings in a row that time out with nothing
 * heard on the path since the first went out say the same). Pure: the caller passes the time and
 * the channel's packets in flight.
 */
import { PING_MISSES, QUIET_MS, STALL_MS } from './peer-link-types.js';

export class PathHearing {
  /** When the path was adopted or last carried a datagram to us. */
  #heardAt = 0;
  /** Since when data has been in flight without a pause, as seen at our sends. */
  #outstandingSince: number | undefined;
  /** When the first of the pings that timed out in a row, with nothing heard since, was sent. */
  #missedSince: number | undefined;
  #missed = 0;

  /** A new path: heard "now", nothing outstanding on it yet. */
  adopted(now: number): void {
    this.#heardAt = now;
    this.#outstandingSince = undefined;
    this.#missed = 0;
    this.#missedSince = undefined;
  }

  /** A datagram came on the path (called before it is handled: handling may send). */
  heard(now: number): void {
    this.#heardAt = now;
    this.#missed = 0;
    this.#missedSince = undefined;
  }

  /** After handling what came: an ack may have emptied the flight. */
  handled(inFlight: number): void {
    if (inFlight === 0) this.#outstandingSince = undefined;
  }

  /** We are about to send on the path with `inFlight` packets unacknowledged. */
  sending(now: number, inFlight: number): void {
    if (inFlight === 0) this.#outstandingSince = undefined;
    else this.#outstandingSince ??= now;
  }

  /** Nothing came on the path for QUIET_MS. */
  quiet(now: number): boolean {
    return now - this.#heardAt >= QUIET_MS;
  }

  /** Data in flight and nothing heard on the path for STALL_MS since it went out: a reason. */
  stalled(now: number, inFlight: number): string | undefined {
    if (this.#outstandingSince === undefined || inFlight === 0) return undefined;
    const silentMs = now - Math.max(this.#heardAt, this.#outstandingSince);
    if (silentMs < STALL_MS) return undefined;
    return `no answer on the path for ${(silentMs / 1000).toFixed(1)} s with data in flight`;
  }

  /**
   * A ping sent on the path at `sentAt` timed out at `now`. Netsim (issue 9/11): both sides held
   * 'direct' on pairs the other did not take data on, consent checks were still answered (STUN
   * is answered on any pair), and pings — the only traffic — timed out for ~90 s. One lost ping
   * is loss (1 % links lose ~4 % of round trips); PING_MISSES in a row with nothing heard since
   * the first went out is a path that carries nothing back: a reason to drop it.
   */
  pingMissed(now: number, sentAt: number): string | undefined {
    if (this.#heardAt > sentAt) return undefined; // something came meanwhile: only loss
    this.#missedSince ??= sentAt;
    if (++this.#missed < PING_MISSES) return undefined;
    const silentMs = now - Math.max(this.#heardAt, this.#missedSince);
    return `no answer on the path for ${(silentMs / 1000).toFixed(1)} s (${this.#missed} pings unanswered)`;
  }
}
