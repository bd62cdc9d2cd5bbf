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
 */
import type { ControlChannel, Presence } from './presence.js';
import type { ClientMessage, ServerMessage } from './protocol.js';

export type PunchOffer = Omit<Extract<ClientMessage, { type: 'offer' }>, 'type'>;

/**
 * Forward A's `candidates` to `m.to`; when `takeOffer` yields the recipient's registered offer,
 * answer A with it at once and schedule the start. `takeOffer` removes the offer it returns.
 */
export function forwardCandidates(
  presence: Presence,
  from: ControlChannel,
  m: Extract<ClientMessage, { type: 'candidates' }>,
  takeOffer: (peer: string) => PunchOffer | undefined,
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
  // Only a punch with credentials can be answered, and only toward a peer that allows A: the
  // offer (addresses, credentials) must not reach anyone its owner would not answer itself.
  const offer =
    m.ufrag !== undefined && m.pwd !== undefined && presence.allows(m.to, from.peer)
      ? takeOffer(m.to)
      : undefined;
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
