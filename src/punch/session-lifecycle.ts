/**
 * The lifecycle of the punches of one connector (connector.ts), from the signaling side: the
 * frames that drive a session (`candidates`, trickles, `punch-start`, serve's answers with a
 * registered offer), the waits for them, the answering side's session (`respond`), glare, and the
 * end of punches whose relay allocation was lost. The connector owns the socket, the gatherer and
 * the tables; this file decides what each frame does to a session (punch-signals.ts has the
 * frames and the sequence diagram, punch-session.ts the session record).
 */
import type { Logger } from '../util/logger.js';
import type { CandidateGatherer } from './candidates.js';
import type { IceCredentials, Role } from './check-message.js';
import type { IncomingPunch, PunchConnectorOptions } from './connector-options.js';
import { PUNCH_DEFAULTS, PUNCH_LIMITS } from './constants.js';
import { PUNCH_ERR, PunchError } from './errors.js';
import type { WireNatFacts } from './nat-facts.js';
import type { PunchedPath } from './path.js';
import { runChecks, type RunContext } from './punch-run.js';
import { waitFor, type Session } from './punch-session.js';
import { endedByPeer, endReason, endsSession, type PunchEndReason } from './punch-end.js';
import type { PunchSignalIn, PunchSignalOut } from './punch-signals.js';
import { creds, parseCandidates, parseRemote, type RemoteDescription } from './punch-signals.js';
import { permitRemote, type RelayBase } from './relay-base.js';
import type { SessionTable } from './session-table.js';
import type { WarmOffers } from './warm-offers.js';

/** What the lifecycle uses of its connector. */
export interface LifecycleHost {
  readonly options: PunchConnectorOptions;
  readonly log: Logger;
  readonly sessions: SessionTable;
  readonly gatherer: CandidateGatherer;
  readonly relay: RelayBase;
  readonly warm: WarmOffers;
  /** `onIncoming` listeners. */
  readonly incoming: ReadonlySet<(p: IncomingPunch) => void>;
  closed(): boolean;
  /** A new session (throws PunchError CLOSED once the connector is closed). */
  newSession(peer: string, rid: string, role: Role, local?: IceCredentials): Session;
  /** Take `s` out of the table and tell the other side `why` if it has no path (punch-end.ts). */
  endSession(s: Session, why: PunchEndReason): void;
  runContext(): RunContext;
  /** Our NAT facts for a frame. */
  facts(): { nat?: WireNatFacts };
  /** Send a frame (throws PunchError NOT_CONNECTED). */
  send(frame: PunchSignalOut): void;
  registerOffer(): void;
}

export class SessionLifecycle {
  readonly #h: LifecycleHost;

  constructor(host: LifecycleHost) {
    this.#h = host;
  }

  /**
   * Our relay allocation is gone (its relay died, or a renewal failed): a punch that offered its
   * relayed candidate and has not selected ends now rather than at its 15 s timeout. Its relay
   * pairs cannot answer any more and the agent takes no second relay base, so the punch could
   * only end in "no pair selected"; meanwhile its link cannot re-punch onto the allocation the
   * gatherer makes on a live relay of the fleet (issue 12: the sides sat 19–25 s on such
   * punches). The other side is told (`punch-end`, punch-end.ts) and ends its session of the
   * punch now, so that a connect there starts a fresh punch rather than joining this one.
   */
  endRelayed(): void {
    for (const s of [...this.#h.sessions.values()]) {
      // An offer is registered again whenever the relay changes (warm-offers.ts): one serve
      // handed out named the allocation we had.
      const offered = s.fromOffer === true || s.sent?.some((c) => c.type === 'relay');
      if (!offered || s.merged || s.agent?.selected || s.sideSelected) continue;
      s.agent?.close();
      s.stopStep?.();
      this.#h.endSession(s, 'relay-lost'); // the other side's session of it ends with it
      this.#h.log.info('punch ended: our relay allocation was lost', { peer: s.peer, rid: s.rid });
      s.cancelWait?.(
        new PunchError(
          PUNCH_ERR.FAILED,
          `punch with ${s.peer} failed: relay allocation lost (ours, offered in this punch)`,
        ),
      );
    }
  }

  /** The other side's candidates (undefined), or the punch ours merged into on glare. */
  waitCandidates(
    s: Session,
    signal?: AbortSignal,
  ): Promise<{ path: Promise<PunchedPath> } | undefined> {
    return waitFor(s, this.#waitOptions('candidates', signal), (done) => {
      s.onCandidates = () => done(undefined);
      s.onMerged = (path) => done({ path });
    });
  }

  waitStart(s: Session, signal?: AbortSignal): Promise<{ at: number; rtt: number }> {
    return waitFor(s, this.#waitOptions('punch-start', signal), (done) => {
      if (s.start) return done(s.start);
      s.onStart = (at, rtt) => done({ at, rtt });
    });
  }

  #waitOptions(what: string, signal: AbortSignal | undefined) {
    const ms = this.#h.options.signalTimeoutMs ?? PUNCH_DEFAULTS.signalTimeoutMs;
    return { clock: this.#h.options.clock, ms, what, signal };
  }

  onSignal(f: PunchSignalIn): void {
    if (this.#h.closed()) return;
    if (f.type === 'punch-end') return this.#onPunchEnd(f);
    if (f.type === 'punch-start') {
      const s = this.#h.sessions.get(f.rid);
      if (s && s.peer === f.from) {
        s.start ??= { at: f.at, rtt: f.rtt };
        s.onStart?.(f.at, f.rtt);
      }
      return;
    }
    const s = this.#h.sessions.get(f.rid);
    if (s && s.peer === f.from && s.remote && f.ufrag === undefined) {
      // Trickled (a relayed candidate made after the first frame): same session, more pairs.
      for (const c of parseCandidates(f.candidates)) {
        if (s.remote.candidates.length >= PUNCH_LIMITS.maxRemoteCandidates) break;
        s.remote.candidates.push(c);
        s.agent?.addRemote(c);
      }
      const relay = this.#h.gatherer.relay;
      if (s.agent && relay) permitRemote(relay, s.remote.candidates);
      return;
    }
    const remote = parseRemote(f);
    if (!remote) return this.#h.log.debug('candidates without ice credentials', { from: f.from });
    if (s) {
      if (s.peer !== f.from || s.remote) return;
      s.remote = remote;
      // An offer serve handed out: it sends punch-start right behind (no `punch` from us).
      if (f.answered !== undefined) s.startComing = true;
      s.onCandidates?.();
      return;
    }
    // A frame of a punch that ended here (ours aborted, or ended by the other side's punch-end)
    // crossing that end: not a new punch toward us.
    if (this.#h.sessions.ended(f.rid))
      return this.#h.log.debug('frame of a punch that ended', { from: f.from, rid: f.rid });
    // serve's answer to a punch of OURS (the callee's offer: its own ufrag is the one answered)
    // for a session that ended while it was on its way (aborted, glare, our relay lost): not a
    // punch toward us, and none of our offers is named. It used to be looked up as one and
    // logged "answered with an unknown offer" (relay-move), and a fresh offer registered for
    // nothing. The callee's side of that punch ends on its timeout: no frame tells it.
    if (f.answered !== undefined && f.answered === f.ufrag)
      return this.#h.log.debug('answer to a punch that ended', { from: f.from, rid: f.rid });
    // serve answered for us with a registered offer: those credentials are this session's (once).
    let local: { creds: IceCredentials; nat?: WireNatFacts } | undefined;
    if (f.answered !== undefined) {
      local = this.#h.warm.takeOffer(f.answered);
      this.#h.registerOffer(); // the next punch toward us gets a fresh one
      if (!local)
        return this.#h.log.debug('punch answered with an unknown offer', { from: f.from });
    }
    if (this.#h.options.accept && !this.#h.options.accept(f.from)) return;
    // Glare: both sides initiated. Deterministic on both sides: the punch of the lower peer id
    // goes on (its initiator stays controlling); the higher side answers it and drops its own,
    // and its own connect follows that path. The lower side ignores the higher's punch: the
    // higher side drops it as soon as the lower's arrives (same server, in order).
    const own =
      this.#h.options.localPeerId === undefined ? undefined : this.#h.sessions.ownPending(f.from);
    if (own) {
      if (this.#h.options.localPeerId! < f.from) return;
      const path = this.#respond(f.from, f.rid, remote, local);
      if (!path) return;
      own.merged = path;
      own.agent?.close();
      own.stopStep?.();
      if (own.onMerged) own.onMerged(path);
      else own.cancelWait?.(new PunchError(PUNCH_ERR.ABORTED, 'glare: following the other punch'));
      return;
    }
    void this.#respond(f.from, f.rid, remote, local); // its outcome goes to onIncoming listeners
  }

  /**
   * The other side's session of punch `f.rid` ended without a path: ours of THAT punch ends now
   * (its checks could only time out), so a connect meanwhile starts a fresh punch. A frame from
   * another peer, for another punch, naming another ufrag, or for a punch that has a path
   * changes nothing (punch-end.ts `endsSession`).
   */
  #onPunchEnd(f: Extract<PunchSignalIn, { type: 'punch-end' }>): void {
    const s = this.#h.sessions.get(f.rid);
    if (!endsSession(s, f))
      return this.#h.log.debug('punch-end for no punch of its sender', { from: f.from });
    s.endTold = true; // it knows: nothing to send back
    s.agent?.close();
    s.stopStep?.();
    this.#h.endSession(s, 'failed');
    this.#h.log.info('punch ended by the other side', {
      peer: s.peer,
      rid: s.rid,
      reason: f.reason,
    });
    s.cancelWait?.(endedByPeer(s, f.reason));
  }

  /** The other side initiated: answer with our candidates, wait for punch-start, check. */
  #respond(
    peer: string,
    rid: string,
    remote: RemoteDescription,
    offered?: { creds: IceCredentials; nat?: WireNatFacts },
  ): Promise<PunchedPath> | undefined {
    let s: Session;
    try {
      s = this.#h.newSession(peer, rid, 'controlled', offered?.creds);
    } catch (err) {
      this.#h.log.warn('punch refused', { peer, err: String(err) });
      return undefined;
    }
    s.remote = remote;
    this.#h.gatherer.ensureRelay(); // trickled when made; the direct candidates go now
    this.#h.gatherer.checkRelay(); // as in connector.ts #initiate: a dead allocation is found now
    const path = (async () => {
      try {
        const started = this.waitStart(s);
        // serve answered with our offer and sends punch-start to both: nothing to send.
        if (offered) {
          s.sent = []; // serve sent our offer; a relayed candidate made since is trickled
          s.fromOffer = true;
          s.sentNat = offered.nat;
          const { at, rtt } = await started;
          return await runChecks(this.#h.runContext(), s, at, rtt);
        }
        const candidates = this.#h.relay.withRelay(await this.#h.warm.gather());
        // Ended while we gathered (the other side's punch-end, our relay lost, close): our
        // candidates would reach the other side as a new punch toward it under the ended rid.
        if (this.#h.sessions.get(rid) !== s) {
          await started; // rejects with why it ended
          throw new PunchError(PUNCH_ERR.ABORTED, `punch with ${peer} ended while gathering`);
        }
        const facts = this.#h.facts();
        this.#h.send({
          type: 'candidates',
          to: peer,
          rid,
          candidates,
          ...creds(s.local),
          ...facts,
        });
        s.sent = [...candidates];
        s.sentNat = facts.nat;
        // Ask for the coordinated start now: serve forwards our candidates first, then sends both
        // sides punch-start, so the initiator's own `punch` (two one-way trips later) is not
        // waited for. Refused silently if the initiator does not allow us; its `punch` then runs.
        this.#h.send({ type: 'punch', to: peer, rid });
        const { at, rtt } = await started;
        return await runChecks(this.#h.runContext(), s, at, rtt);
      } catch (err) {
        this.#h.endSession(s, endReason(err));
        throw err;
      }
    })();
    path.catch(() => {}); // the listener gets the same promise; no unhandled rejection here
    s.path = path;
    for (const l of this.#h.incoming) l({ peer, rid, path });
    return path;
  }
}
