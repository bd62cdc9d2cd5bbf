/**
 * Moving a PeerLink up the ladder (peer-link.ts): who punches, when, and what a punch's end
 * means. The link holds the path and the session; this part asks the connector for a path and
 * hands what it gets to the link (`adopt`), and the link tells it what became of its path
 * (`adopted`, `ranThroughRelay`, `down`).
 * - Who: the side that wants the link (`want`: a notify, a ping) punches at once, whatever its
 *   id; when the other side opened the session (its Noise init arrived), the lower peer id does.
 *   The connector joins a punch already running with the peer, or resolves glare to one session,
 *   so the two sides never punch twice at once.
 * - When again: a relay result is kept and direct tried again later; a path that died or whose
 *   remote moved is tried again with backoff (repunch-policy.ts).
 * Pure of sockets: the connector is injected (CONTRACTS §4), time the injected clock.
 */
import type { PunchedPath } from '../punch/path.js';
import type { PeerLinkOptions } from './peer-link-types.js';
import { RepunchPolicy } from './repunch-policy.js';

/** What the upgrade needs of its link. */
export interface LinkUpgradeHost {
  closed(): boolean;
  /** The session has keys. */
  established(): boolean;
  /** The UDP path held now, if any. */
  path(): PunchedPath | undefined;
  /** Take the punched path (PeerLink.adopt): the link reports it and calls `adopted`. */
  adopt(p: PunchedPath): void;
  /** A punch ended, whatever its outcome: what waited for it may go on (check answers, the
   *  held handshake) before the re-punch rules run. */
  settled(): void;
}

export class LinkUpgrade {
  readonly #o: PeerLinkOptions;
  readonly #h: LinkUpgradeHost;
  /** When to try for direct again (backoff, and the two at-once cases): repunch-policy.ts. */
  readonly #repunch: RepunchPolicy;
  #punching = false;
  /** Why the last attempt at a direct path failed, for `natpush ping`. */
  lastError: string | undefined;

  constructor(o: PeerLinkOptions, h: LinkUpgradeHost) {
    this.#o = o;
    this.#h = h;
    this.#repunch = new RepunchPolicy({
      clock: o.clock,
      ...(o.repunchMs ? { backoff: o.repunchMs } : {}),
      closed: () => h.closed(),
      established: () => h.established(),
      punch: () => this.maybe(true),
    });
  }

  /** A punch of ours is running. */
  get punching(): boolean {
    return this.#punching;
  }

  /**
   * Punch now unless one runs, a re-punch is scheduled, the path is direct already or it is the
   * other side's turn. `want`: this side wants the link (`start`), so it punches whatever its id.
   */
  maybe(want = false): void {
    if (this.#h.closed() || this.#punching || this.#repunch.waiting) return;
    const p = this.#h.path();
    if (p?.kind === 'direct' && !p.closed) return;
    if (!want && !this.#initiates()) return;
    void this.#punch();
  }

  /** The link adopted a path (ours or the remote's punch). */
  adopted(kind: PunchedPath['kind']): void {
    if (kind === 'relay')
      this.#repunch.schedule(); // try for direct again later
    else this.#repunch.succeeded();
  }

  /** The path adopted as direct runs through the remote's relay: as after a relay result. */
  ranThroughRelay(): void {
    this.lastError = 'the direct pair ran through the remote relay; using the relay';
    this.#repunch.failed();
    this.#repunch.schedule();
  }

  /** The link dropped its UDP path (`reason` as logged). */
  down(reason: string): void {
    this.#repunch.down(reason, this.#punching);
  }

  close(): void {
    this.#repunch.cancel();
  }

  /**
   * Who punches when the other side opened the session (its Noise init arrived): the lower peer
   * id. A side that wants the link itself punches at once whatever its id — waiting for the
   * other side to hear of it cost ~4 one-way delays in half the pairs.
   */
  #initiates(): boolean {
    return this.#o.identity.peerId < this.#o.remote;
  }

  async #punch(): Promise<void> {
    this.#punching = true;
    let failure: string | undefined;
    try {
      const connector = await this.#o.connector();
      if (!connector || this.#h.closed()) return;
      const p = await connector.connect(this.#o.remote);
      if (this.#h.closed()) return p.close();
      if (this.#h.path() === p) return; // the other side's punch, joined: adopted and reported
      this.#o.onPunch({
        ok: true,
        kind: p.kind,
        ...(p.rttMs !== undefined ? { rttMs: p.rttMs } : {}),
      });
      if (p.kind === 'relay') {
        this.lastError = 'no direct pair answered; using the relay';
        this.#repunch.failed(); // back off the retries for direct like after a failure
      }
      this.#h.adopt(p);
    } catch (err) {
      this.lastError = failure = err instanceof Error ? err.message : String(err);
      this.#repunch.failed();
      this.#o.onPunch({ ok: false, error: this.lastError });
      this.#o.logger.info('punch failed', { peer: this.#o.remote, err: this.lastError });
      this.#repunch.schedule();
    } finally {
      this.#punching = false;
      this.#h.settled();
      const p = this.#h.path();
      this.#repunch.afterPunch(failure, p !== undefined && !p.closed);
    }
  }
}
