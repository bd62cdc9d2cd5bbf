/**
 * One WebSocket connection's side of punch offers (punch-offers.ts): the offer its peer
 * registered (handed out once) and the punches held for its first offer right after its welcome
 * (OfferWait). ws-connection.ts feeds it the peer's `offer` and `candidates` frames and its
 * welcome and close; the rule itself lives in punch-offers.ts.
 */
import type { ServerContext } from './context.js';
import type { ControlChannel } from './presence.js';
import type { ClientMessage } from './protocol.js';
import { forwardCandidates, offerHistory, OfferWait, type PunchOffer } from './punch-offers.js';

export class ConnectionOffers {
  /** This peer's registered punch offer; handed out once. */
  #offer: PunchOffer | undefined;
  /** Punches held for this peer's first offer right after its welcome. */
  readonly #wait: OfferWait;

  constructor(private readonly ctx: ServerContext) {
    this.#wait = new OfferWait(ctx.clock);
  }

  /** The peer was welcomed (serve's round trip to it `rttMs`): hold punches if it offers. */
  welcomed(peer: string, rttMs: number): void {
    this.#wait.welcomed(rttMs, offerHistory(this.ctx).has(peer));
  }

  /**
   * The peer's `offer`: one per connection, the newest (bounded by the schema's candidate
   * limit), unless a punch held since the welcome takes it at once.
   */
  offered(peer: string, m: Extract<ClientMessage, { type: 'offer' }>): void {
    const offer: PunchOffer = {
      candidates: m.candidates,
      ufrag: m.ufrag,
      pwd: m.pwd,
      ...(m.nat !== undefined ? { nat: m.nat } : {}),
    };
    offerHistory(this.ctx).note(peer);
    if (!this.#wait.offered(offer)) this.#offer = offer;
  }

  /**
   * The peer's `candidates`, from connection `from`: forwarded only if `to` allows it
   * (presence.ts; refused ones vanish without an answer). When `to` registered an offer here,
   * `from` gets it as the answer at once.
   */
  candidates(from: ControlChannel, m: Extract<ClientMessage, { type: 'candidates' }>): void {
    const presence = this.ctx.presence;
    const offersOf = (peer: string): ConnectionOffers | undefined => {
      const o = (presence.channel(peer) as { punchOffers?: unknown } | undefined)?.punchOffers;
      return o instanceof ConnectionOffers ? o : undefined;
    };
    forwardCandidates(
      presence,
      from,
      m,
      (peer) => {
        const c = offersOf(peer);
        if (!c) return undefined;
        const offer = c.#offer;
        c.#offer = undefined;
        return offer;
      },
      (peer) => {
        const c = offersOf(peer);
        return c ? c.#wait : undefined;
      },
    );
  }

  /** The connection closed: its held punches go nowhere. */
  close(): void {
    this.#wait.close();
  }
}
