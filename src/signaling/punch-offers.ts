/**
 * Punch offers: the rendezvous without its answer round trip. A peer that keeps its punch layer
 * warm registers an `offer` (its candidates and one-time ICE credentials, RFC 8445 §5.3) with
 * serve. When another peer's `candidates` for a new punch arrive for it, serve forwards them
 * marked `answered: <ufrag>`, answers the initiator at once with the offer as if the recipient had
 * answered, and schedules the coordinated start (`punch-start` to both), so both sides start
 * checking one signaling trip after the initiator asked:
 *
 *   A ──candidates──▶ S ──candidates {answered}──▶ B       (B answers nothing: S did)
 *                     S ──candidates (B's offer)──▶ A
 *                     S ──punch-start──▶ A, B
 *
 * An offer answers one punch: serve forgets it as it hands it out and the peer registers a new
 * one (per-session credentials stay per session). It goes only to a peer the owner allows (the
 * rule of every rendezvous frame, presence.ts), and dies with the connection. Pure of sockets.
 *
 * A peer welcomed a moment ago has no offer yet: its first one follows the welcome by about two
 * of its round trips (the welcome reaches it, its STUN Binding to serve's relay, the offer comes
 * back). A punch toward it in that window used to be forwarded unanswered, and the callee then
 * answered itself: candidates back and a `punch` (two one-way trips more) before the start, the
 * p95 of `bench/punch-latency.ts` "right after login" (issue 9). So serve holds such a punch
 * (OfferWait, one per callee connection) until the callee's offer arrives or the window closes,
 * then forwards it as it would have: answered, or not. Trickles of a held punch wait behind it,
 * in order (a trickle ahead of its punch would be dropped by the callee: no credentials yet).
 *
 * Only for a callee that registered an offer on an earlier connection to this server
 * (OfferHistory): a peer without a warm punch layer (the library's default `warmDirect: false`)
 * offers nothing after its login, and holding a punch toward it only delayed its answer by the
 * whole window (bench/punch-latency.ts --cold, right after login: 376 -> 518 ms at D = 25 ms).
 */
import type { Clock, TimerHandle } from '../util/clock.js';
import type { ControlChannel, Presence } from './presence.js';
import type { ClientMessage, ServerMessage } from './protocol.js';

export type PunchOffer = Omit<Extract<ClientMessage, { type: 'offer' }>, 'type'>;

/**
 * How long after its welcome serve holds a punch for a peer's first offer: two of its round
 * trips (measured at the challenge, ws-connection.ts) plus a margin for the peer's own work
 * (socket, credentials, a loaded machine), never more than `maxMs`. A callee that keeps no warm
 * punch layer (`warmDirect: false`) never offers: a punch toward it right after its login waits
 * the whole window, which its own gather (a STUN round trip after the punch reaches it) mostly
 * costs anyway.
 */
export const OFFER_WAIT = {
  rtts: 2,
  marginMs: 150,
  maxMs: 1_000,
  /** Punches held per callee: more callers than this at its login go on unanswered, as before. */
  maxHeld: 8,
  /** Trickles kept behind one held punch (a punch trickles its relayed candidate: one or two). */
  maxTrickles: 8,
  /**
   * Peers remembered as offering (OfferHistory), least recently offering forgotten first:
   * ~100 bytes each, 1.6 MiB at most; a forgotten one only loses the hold at its next login.
   */
  maxRemembered: 16_384,
} as const;

/** Peers that registered a punch offer here (bounded, most recent last): they will again. */
export class OfferHistory {
  readonly #peers = new Set<string>();
  readonly #max: number;

  constructor(max: number = OFFER_WAIT.maxRemembered) {
    if (!(max >= 1)) throw new RangeError('max must be >= 1');
    this.#max = max;
  }

  note(peer: string): void {
    this.#peers.delete(peer);
    this.#peers.add(peer);
    if (this.#peers.size > this.#max) this.#peers.delete(this.#peers.values().next().value!);
  }

  has(peer: string): boolean {
    return this.#peers.has(peer);
  }
}

/** One OfferHistory per server (keyed by its context object; gone with it). */
const histories = new WeakMap<object, OfferHistory>();
export function offerHistory(server: object): OfferHistory {
  let h = histories.get(server);
  if (!h) histories.set(server, (h = new OfferHistory()));
  return h;
}

interface Held {
  readonly from: string;
  readonly rid: string;
  readonly release: (offer: PunchOffer | undefined) => void;
  readonly trickles: (() => void)[];
  timer: TimerHandle | undefined;
}

/** Punches held for one just-welcomed callee's first offer (bounded: OFFER_WAIT). */
export class OfferWait {
  readonly #clock: Clock;
  /** Hold only before this instant (ms); 0 until welcomed. */
  #until = 0;
  readonly #held: Held[] = [];

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /**
   * The callee was welcomed now; `rttMs` is serve's round trip to it; `offers`: it registered
   * offers before (OfferHistory), so one is expected. Without, nothing is held.
   */
  welcomed(rttMs: number, offers: boolean): void {
    if (!offers) return;
    const window = Math.min(OFFER_WAIT.maxMs, OFFER_WAIT.rtts * rttMs + OFFER_WAIT.marginMs);
    this.#until = this.#clock.now() + window;
  }

  /** Punches held now (for tests). */
  get size(): number {
    return this.#held.length;
  }

  /**
   * Hold `from`'s punch `rid` until an offer arrives (`release(offer)`) or the window closes
   * (`release(undefined)`). False when it is not held: past the window, or the table full.
   */
  hold(from: string, rid: string, release: (offer: PunchOffer | undefined) => void): boolean {
    const left = this.#until - this.#clock.now();
    if (left <= 0 || this.#held.length >= OFFER_WAIT.maxHeld) return false;
    const h: Held = { from, rid, release, trickles: [], timer: undefined };
    h.timer = this.#clock.setTimeout(() => this.#release(h, undefined), left);
    this.#held.push(h);
    return true;
  }

  /** A trickle of a held punch: forwarded right behind it (true), or not held (false). */
  trickle(from: string, rid: string, forward: () => void): boolean {
    const h = this.#held.find((x) => x.from === from && x.rid === rid);
    if (!h) return false;
    // Past the bound it is dropped, as a full queue drops: the punch goes on with the rest.
    if (h.trickles.length < OFFER_WAIT.maxTrickles) h.trickles.push(forward);
    return true;
  }

  /** The callee registered `offer`: the oldest held punch takes it (true), or none waits. */
  offered(offer: PunchOffer): boolean {
    const h = this.#held[0];
    if (!h) return false;
    this.#release(h, offer);
    return true;
  }

  /** The callee's connection closed: its held punches go nowhere (as if forwarded to a gone peer). */
  close(): void {
    this.#until = 0;
    for (const h of this.#held.splice(0)) h.timer?.cancel();
  }

  #release(h: Held, offer: PunchOffer | undefined): void {
    const i = this.#held.indexOf(h);
    if (i < 0) return;
    this.#held.splice(i, 1);
    h.timer?.cancel();
    h.release(offer);
    for (const t of h.trickles) t();
  }
}

/**
 * Forward A's `candidates` to `m.to`; when `takeOffer` yields the recipient's registered offer,
 * answer A with it at once and schedule the start. `takeOffer` removes the offer it returns.
 * `waitOf` names the recipient's OfferWait, if it is connected here: a punch toward a peer
 * welcomed a moment ago without an offer yet waits there for it (and its trickles behind it).
 */
export function forwardCandidates(
  presence: Presence,
  from: ControlChannel,
  m: Extract<ClientMessage, { type: 'candidates' }>,
  takeOffer: (peer: string) => PunchOffer | undefined,
  waitOf: (peer: string) => OfferWait | undefined = () => undefined,
): void {
  const frame: Extract<ServerMessage, { type: 'candidates' }> = {
    type: 'candidates',
    from: from.peer,
    rid: m.rid,
    candidates: m.candidates,
    ...(m.ufrag !== undefined ? { ufrag: m.ufrag } : {}),
    ...(m.pwd !== undefined ? { pwd: m.pwd } : {}),
    ...(m.nat !== undefined ? { nat: m.nat } : {}),
  };
  if (m.ufrag === undefined || m.pwd === undefined) {
    const forward = () => void presence.forward(from.peer, m.to, frame);
    if (!waitOf(m.to)?.trickle(from.peer, m.rid, forward)) forward();
    return;
  }
  // Only a punch with credentials can be answered, and only toward a peer that allows A: the
  // offer (addresses, credentials) must not reach anyone its owner would not answer itself.
  const allowed = presence.allows(m.to, from.peer);
  const offer = allowed ? takeOffer(m.to) : undefined;
  const answer = (o: PunchOffer | undefined) => forwardAnswered(presence, from, m, frame, o);
  if (offer || !allowed || !waitOf(m.to)?.hold(from.peer, m.rid, answer)) answer(offer);
}

/** The forward itself: marked `answered` with A's answer and the start when there is an offer. */
function forwardAnswered(
  presence: Presence,
  from: ControlChannel,
  m: Extract<ClientMessage, { type: 'candidates' }>,
  frame: Extract<ServerMessage, { type: 'candidates' }>,
  offer: PunchOffer | undefined,
): void {
  if (!presence.forward(from.peer, m.to, offer ? { ...frame, answered: offer.ufrag } : frame))
    return;
  if (!offer) return;
  from.control({
    type: 'candidates',
    from: m.to,
    rid: m.rid,
    candidates: offer.candidates,
    ufrag: offer.ufrag,
    pwd: offer.pwd,
    answered: offer.ufrag, // an offer handed out by serve: punch-start follows, no `punch` needed
    ...(offer.nat !== undefined ? { nat: offer.nat } : {}),
  });
  presence.punch(from, m.to, m.rid);
}
