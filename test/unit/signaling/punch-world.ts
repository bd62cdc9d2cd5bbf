/**
 * A serve-side punch world for punch-offers.ts tests: three peers A, B and X on one Presence with
 * a manual clock (serve's round trip: A 40 ms, B 60 ms, X 10 ms). B lets A (only) rendezvous
 * with it; A allows anyone. `punch` sends A's (or X's) punch toward B through forwardCandidates
 * with the offer source and offer wait a test gives it.
 */
import { Metrics, signalingMetrics } from '../../../src/signaling/metrics.js';
import { Presence, type ControlChannel } from '../../../src/signaling/presence.js';
import type { ClientMessage, ServerMessage } from '../../../src/signaling/protocol.js';
import {
  forwardCandidates,
  type OfferWait,
  type PunchOffer,
} from '../../../src/signaling/punch-offers.js';
import { ManualClock } from '../../../src/util/clock.js';

export const A = 'a'.repeat(32);
export const B = 'b'.repeat(32);
export const X = 'x'.repeat(32);

/** A control channel that keeps what serve sends it. */
export class Chan implements ControlChannel {
  got: ServerMessage[] = [];
  constructor(
    readonly peer: string,
    readonly rttMs: number,
    readonly publicKey = 'pk',
  ) {}
  control(m: ServerMessage): boolean {
    this.got.push(m);
    return true;
  }
  take(): ServerMessage[] {
    return this.got.splice(0);
  }
}

/** B's offer. */
export const OFFER: PunchOffer = {
  candidates: [{ type: 'srflx', protocol: 'udp', address: '198.51.100.2', port: 4000 }],
  ufrag: 'bbbb',
  pwd: 'b'.repeat(22),
};

export type CandidatesExtra = Partial<Extract<ClientMessage, { type: 'candidates' }>>;

export function punchWorld(
  takeOffer: (peer: string) => PunchOffer | undefined,
  waitOf?: (peer: string) => OfferWait | undefined,
) {
  const clock = new ManualClock(1_000);
  const presence = new Presence({
    metrics: signalingMetrics(new Metrics()),
    clock,
    punchLeadMs: 20,
  });
  const a = new Chan(A, 40);
  const b = new Chan(B, 60);
  const x = new Chan(X, 10);
  for (const c of [a, b, x]) presence.addChannel(c);
  presence.allow(b, [A], false); // B lets A (only) rendezvous with it
  presence.allow(a, [], true);
  /** `from`'s punch toward B (candidates with credentials, rid r1 unless `extra` says). */
  const punch = (from: Chan, extra: CandidatesExtra = {}) =>
    forwardCandidates(
      presence,
      from,
      {
        type: 'candidates',
        to: B,
        rid: 'r1',
        candidates: [{ type: 'host', protocol: 'udp', address: '10.0.0.1', port: 5000 }],
        ufrag: 'aaaa',
        pwd: 'a'.repeat(22),
        ...extra,
      },
      takeOffer,
      waitOf,
    );
  return { clock, a, b, x, punch };
}
