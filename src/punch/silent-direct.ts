/**
 * Direct pairs that stayed silent through a whole direct grace in the last punch with a peer:
 * nothing came back to our checks and no check of the remote came in on them. A re-punch with
 * the same peer (a relay died, a path stalled) forms the same direct pairs again — same socket,
 * same remote addresses — and waiting the grace for them a second time only delays the relay
 * (relay-move: 3 of ~10 s). nomination.ts counts such pairs as unable to win: the relayed pair is
 * nominated as soon as it works. They are still checked, and one that answers after all still
 * takes the selection (pair-upgrade.ts: the controlling side's aggressive nominations go on after
 * a relay selection), so a NAT that changed its mind costs a path move, not the direct path.
 *
 * Forgotten after SILENT_TTL_MS (a NAT's filtering state changes), when a direct pair with the
 * peer works, and on `clear` (the interfaces changed: every pair is new).
 */
import type { CandidatePair } from './check-types.js';

/** Long enough to cover the re-punches after a path's death (seconds apart), short against a
 *  NAT's state changing: its UDP mappings time out in 30–120 s (Linux conntrack). */
export const SILENT_TTL_MS = 60_000;
/** Peers remembered (the oldest forgotten first): as many as punches may run at once, and more. */
export const SILENT_MAX_PEERS = 256;

export class SilentDirect {
  /** peer → pair ids (pairId: base|address:port) and when they were found silent. */
  readonly #peers = new Map<string, { ids: ReadonlySet<string>; at: number }>();

  /** The direct pairs known silent with `peer` at `now` (pair ids). */
  of(peer: string, now: number): ReadonlySet<string> {
    const e = this.#peers.get(peer);
    if (e && now - e.at < SILENT_TTL_MS) return e.ids;
    if (e) this.#peers.delete(peer);
    return new Set();
  }

  /**
   * A punch with `peer` ended (selected, or failed) after `ranMs` of checks: remember its direct
   * pairs that heard nothing through a whole grace; a working direct pair clears the peer.
   */
  record(
    peer: string,
    pairs: readonly CandidatePair[],
    ranMs: number,
    graceMs: number,
    now: number,
  ) {
    const direct = pairs.filter((p) => p.kind === 'direct');
    if (direct.some((p) => p.state === 'succeeded' || p.heard))
      return void this.#peers.delete(peer);
    if (ranMs < graceMs || direct.length === 0) return;
    this.#peers.delete(peer); // re-inserted last: the Map's order is the age order
    this.#peers.set(peer, { ids: new Set(direct.map((p) => p.id)), at: now });
    for (const oldest of this.#peers.keys()) {
      if (this.#peers.size <= SILENT_MAX_PEERS) break;
      this.#peers.delete(oldest);
    }
  }

  clear(): void {
    this.#peers.clear();
  }
}
