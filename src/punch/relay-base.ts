/**
 * The TURN relay as a second base for the checks (RFC 8445 §5.1.1.2, relayed candidates): the
 * relayed candidate in what we offer (trickled to punches that went out before it existed),
 * the check transactions through the allocation, relayed datagrams into the socket's demux, the
 * permissions toward the remote's addresses, and sending on either base.
 */
import type { Endpoint, UdpSocket } from '../net/udp.js';
import { familyOf, normalizeAddress } from '../net/udp.js';
import type { TurnClient } from '../relay/index.js';
import { StunTransactions } from '../stun/transaction.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { Candidate, CandidateGatherer } from './candidates.js';
import { candidatePriority } from './candidates.js';
import { PUNCH_DEFAULTS } from './constants.js';
import type { SocketDemux, Via } from './demux.js';
import type { Session } from './punch-session.js';
import type { PunchSignaling, WireCandidate } from './punch-signals.js';
import { relayWire } from './punch-signals.js';

export interface RelayBaseOptions {
  gatherer: CandidateGatherer;
  socket: UdpSocket;
  demux: SocketDemux;
  clock: Clock;
  logger: Logger;
  closed(): boolean;
}

/** Our relay must permit the remote's public addresses before relayed checks can cross. */
export function permitRemote(relay: TurnClient, remote: readonly Candidate[]): void {
  const ips = new Set(
    remote.filter((c) => c.type !== 'host').map((c) => normalizeAddress(c.address)),
  );
  // One request per address: serve refuses private ones (403), which must not sink the rest.
  for (const ip of ips) void relay.createPermission(ip).catch(() => {});
}

export class RelayBase {
  readonly #o: RelayBaseOptions;
  #tx: StunTransactions | undefined;
  #off: (() => void) | undefined;
  #used: TurnClient | undefined;

  constructor(o: RelayBaseOptions) {
    this.#o = o;
  }

  /** The check transactions through the relay in use, if any. */
  get tx(): StunTransactions | undefined {
    return this.#tx;
  }

  /** Stop taking relayed datagrams (closing: before the sessions end). */
  detach(): void {
    this.#off?.();
  }

  close(): void {
    this.#tx?.close();
  }

  /** The relayed candidate, if we have one now and `cs` lacks it (gathered before it came). */
  withRelay(cs: WireCandidate[]): WireCandidate[] {
    const r = this.#o.gatherer.relay;
    if (!r || r.closed || cs.some((c) => c.type === 'relay')) return cs;
    return [...cs, relayWire(r)];
  }

  /**
   * Our relayed candidate came after some punches sent their candidates (the gather does not
   * wait for it): trickle it to each running one (a `candidates` frame without credentials, same
   * rid), and give their agents the relay base. A direct pair never waited for it.
   */
  trickle(relay: TurnClient, sessions: Iterable<Session>, signaling: PunchSignaling): void {
    const c = relayWire(relay);
    for (const s of sessions) {
      if (!s.sent || s.agent?.selected || s.sent.some((x) => x.type === 'relay')) continue;
      s.sent.push(c);
      signaling.sendSignal({ type: 'candidates', to: s.peer, rid: s.rid, candidates: [c] });
      if (s.agent && this.#tx) {
        s.agent.addRelayBase(this.#tx, candidatePriority('relay'));
        if (s.remote) permitRemote(relay, s.remote.candidates);
      }
    }
  }

  use(relay: TurnClient | undefined): void {
    // Every gather reports the relay; the same one keeps its transactions (running agents' checks).
    if (relay && relay === this.#used && this.#tx && !relay.closed) return;
    this.#used = relay;
    this.#off?.();
    this.#off = undefined;
    this.#tx?.close();
    this.#tx = undefined;
    if (!relay || this.#o.closed()) return;
    this.#tx = new StunTransactions({
      send: (b, to) => relay.send(to, b),
      clock: this.#o.clock,
      logger: this.#o.logger,
      maxPending: PUNCH_DEFAULTS.maxPendingChecks,
    });
    this.#off = relay.onData((data, from) => this.#o.demux.dispatch(data, from, 'relay'));
  }

  sendVia(bytes: Uint8Array, to: Endpoint, via: Via): void {
    if (via === 'relay') {
      const relay = this.#o.gatherer.relay;
      if (relay && !relay.closed) relay.send(to, bytes);
      return;
    }
    if (
      !this.#o.socket.closed &&
      familyOf(to.address) === familyOf(this.#o.socket.address().address)
    )
      this.#o.socket.send(bytes, to);
  }
}
