/**
 * Candidates gathered ahead of time and the punch offers registered with serve (connector
 * `registerOffers`, signaling punch-offers.ts): a background gather when the connector is made
 * and whenever what it hands out changed (relay, interfaces, a port mapping, NAT facts), handed
 * to every punch while fresh (PUNCH_DEFAULTS.warmCandidatesMs), and registered with fresh
 * one-time ICE credentials (and our NAT facts) as the offer serve answers a punch with.
 */
import type { CandidateGatherer } from './candidates.js';
import type { IceCredentials } from './check-message.js';
import { newIceCredentials } from './check-message.js';
import { PUNCH_DEFAULTS } from './constants.js';
import { PUNCH_ERR, PunchError } from './errors.js';
import type { WireNatFacts } from './nat-facts.js';
import { abortable } from './punch-session.js';
import type { PunchSignaling, WireCandidate } from './punch-signals.js';
import { creds, sameHosts } from './punch-signals.js';
import type { Clock, TimerHandle } from '../util/clock.js';

/**
 * Offers registered with serve that we still answer (newest last). serve keeps only the newest,
 * but one it handed out just as we replaced it may still be named by a punch in flight.
 */
const MAX_OFFERS = 4;

export interface WarmOffersOptions {
  gatherer: CandidateGatherer;
  clock: Clock;
  signaling: PunchSignaling;
  registerOffers: boolean;
  /** Our NAT facts, registered with each offer. */
  facts(): { nat?: WireNatFacts };
  /** A gather ended (the relay it reports may be new). */
  onGathered(): void;
  closed(): boolean;
}

export class WarmOffers {
  readonly #o: WarmOffersOptions;
  /** Candidates gathered ahead of time (PUNCH_DEFAULTS.warmCandidatesMs): one at a time. */
  #warm: { at: number; result: Promise<WireCandidate[]> } | undefined;
  /** One-time credentials of the offers registered with serve, by ufrag (MAX_OFFERS). */
  readonly #offers = new Map<string, { creds: IceCredentials; nat?: WireNatFacts }>();
  #offerTimer: TimerHandle | undefined;
  /**
   * Gathers started (`#gatherNow`), and the newest whose candidates were offered: gathers can
   * run at once (a prewarm, a connect's own, a refresh), and serve keeps only the last offer it
   * is sent — an older gather that ends last would replace the newer offer with candidates that
   * may name a relay or a mapping that is gone. Each result remembers its gather (WeakMap: as
   * long as someone holds the array) so a re-register sends it only if it is still the newest.
   */
  #gathers = 0;
  #offeredGather = 0;
  /** Offers serve took (`sendSignal` true): `registerOffer` sends one only if none went since. */
  #offersSent = 0;
  readonly #gatherOf = new WeakMap<WireCandidate[], number>();

  constructor(o: WarmOffersOptions) {
    this.#o = o;
  }

  /** Register a fresh offer now (after a reconnect). No-op unless `registerOffers`. */
  registerOffer(): void {
    if (!this.#o.registerOffers || this.#o.closed()) return;
    // Offers sent before this call went where serve may have forgotten them (the old connection).
    const sentBefore = this.#offersSent;
    void this.gather()
      .then((cs) => {
        // A gather that ended since registered its own offer (`#gatherNow`): the newest, since
        // `#offer` sends no older one. Sending `cs` as well registered the same candidates twice
        // (the fresh gather's, then ours), the first offer's credentials wasted.
        if (this.#offersSent !== sentBefore) return;
        // Older than the offer sent last (a connect's own gather was newer): gather afresh,
        // which registers its own, rather than register stale candidates or nothing.
        const gather = this.#gatherOf.get(cs) ?? this.#offeredGather;
        if (gather < this.#offeredGather) this.prewarm();
        else this.#offer(cs, gather);
      })
      .catch(() => {});
  }

  /** The offer of this ufrag that serve handed out, once (undefined if unknown). */
  takeOffer(ufrag: string): { creds: IceCredentials; nat?: WireNatFacts } | undefined {
    const o = this.#offers.get(ufrag);
    this.#offers.delete(ufrag);
    return o;
  }

  close(): void {
    this.#offerTimer?.cancel();
  }

  /** Start a background gather; `#gather` hands it out while it is fresh. */
  prewarm(): void {
    if (this.#o.closed()) return;
    const result = this.#gatherNow();
    result.catch(() => {}); // a failed warm-up only means the next connect gathers itself
    this.#warm = { at: this.#o.clock.now(), result };
  }

  async gather(signal?: AbortSignal): Promise<WireCandidate[]> {
    const w = this.#warm;
    const age = w ? this.#o.clock.now() - w.at : Infinity;
    if (w && age < PUNCH_DEFAULTS.warmCandidatesMs) {
      // Past half their life, refresh in the background so the next one stays warm too.
      if (age > PUNCH_DEFAULTS.warmCandidatesMs / 2) this.prewarm();
      try {
        const cs = await abortable(w.result, signal);
        if (sameHosts(cs, this.#o.gatherer.hostCandidates())) return cs;
      } catch (err) {
        if (signal?.aborted) throw err;
      }
    }
    const result = this.#gatherNow(signal);
    if (!signal) this.#warm = { at: this.#o.clock.now(), result };
    return result;
  }

  async #gatherNow(signal?: AbortSignal): Promise<WireCandidate[]> {
    const gather = ++this.#gathers;
    const cs = await this.#o.gatherer.gather(signal, { waitRelay: false });
    this.#o.onGathered();
    // Aborted: the gatherer ended its Binding and gave what it had (no srflx). The connect that
    // asked is over, and those candidates are neither handed out nor offered to serve (an
    // offer without the srflx candidate would replace a good one there).
    if (signal?.aborted) throw new PunchError(PUNCH_ERR.ABORTED, 'aborted');
    const wire = cs.map((c) => ({
      type: c.type,
      protocol: 'udp' as const,
      address: c.address,
      port: c.port,
      priority: c.priority,
    }));
    this.#gatherOf.set(wire, gather);
    this.#offer(wire, gather); // what serve hands out must be what we have
    return wire;
  }

  /**
   * Register `candidates` with fresh one-time credentials as our offer at serve. Re-gathered and
   * re-registered every PUNCH_DEFAULTS.offerRefreshMs while idle: the STUN Binding that does it
   * also keeps the server-reflexive mapping the offer names alive in the NAT. `gather`: the one
   * that found them; older than the last offered, they are stale and not sent.
   */
  #offer(candidates: WireCandidate[], gather: number): void {
    if (!this.#o.registerOffers || this.#o.closed() || gather < this.#offeredGather) return;
    this.#offeredGather = gather;
    const c = newIceCredentials();
    this.#offerTimer?.cancel();
    this.#offerTimer = this.#o.clock.setTimeout(
      () => this.prewarm(),
      PUNCH_DEFAULTS.offerRefreshMs,
    );
    const facts = this.#o.facts();
    if (!this.#o.signaling.sendSignal({ type: 'offer', candidates, ...creds(c), ...facts })) return;
    this.#offersSent++;
    this.#offers.set(c.ufrag, { creds: c, ...facts });
    while (this.#offers.size > MAX_OFFERS) this.#offers.delete(this.#offers.keys().next().value!);
  }
}
