/**
 * Coordinated punching over the signaling server (the DCUtR idea, libp2p
 * `protocol-dcutr`: measure, exchange, start together), with ICE checks (RFC 8445) on one socket.
 *
 * ```mermaid
 * sequenceDiagram
 *   participant A as A (initiator, controlling)
 *   participant S as natpush serve
 *   participant B as B (controlled)
 *   B->>S: offer {candidates, ufrag, pwd}  (registered while idle: registerOffers)
 *   A->>S: candidates {to:B, rid, host+srflx, fresh ufrag+pwd}
 *   S->>B: candidates {from:A, rid, …, answered: B's ufrag}
 *   S->>A: candidates {from:B, rid, B's offer, answered}
 *   S->>A: punch-start {from:B, rid, at, rtt}
 *   S->>B: punch-start {from:A, rid, at, rtt}
 *   Note over A,B: B starts at `at` − 10 ms, A at `at` (local = at − clockOffsetMs)
 *   A-->>S: candidates {to:B, rid, [relay]}  (trickled when the allocation is made)
 *   A-->>B: Binding checks on every pair, every Ta, USE-CANDIDATE on direct pairs
 *   B-->>A: responses + triggered checks (prflx from unknown sources)
 *   Note over A,B: A selects on the first answer; B when its own check on a nominated pair is
 *   Note over A,B: PunchedPath {kind direct|relay}, consent every ~5 s
 * ```
 *
 * Without an offer at serve (B not warm, or two punches toward B at once) B answers with its own
 * `candidates` and `punch`, one signaling round trip later. Either side may start (`connect`);
 * a `connect` joins a punch with the same peer that is running, and glare — both started before
 * either heard of the other — ends in the lower peer id's session (`localPeerId`).
 *
 * The signaling side is injected (CONTRACTS §4): exactly what `Peer` offers.
 */
import { randomBytes } from 'node:crypto';
import type { Endpoint } from '../net/udp.js';
import { familyOf, normalizeAddress } from '../net/udp.js';
import type { TurnClient } from '../relay/index.js';
import { decodeStunMessage } from '../stun/message.js';
import type { StunMessage } from '../stun/message.js';
import { StunTransactions } from '../stun/transaction.js';
import type { TimerHandle } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import type { Candidate } from './candidates.js';
import { CandidateGatherer, candidatePriority } from './candidates.js';
import type { IceCredentials, Role } from './check-message.js';
import { checkTarget, newIceCredentials } from './check-message.js';
import { PUNCH_DEFAULTS, PUNCH_LIMITS } from './constants.js';
import { SocketDemux } from './demux.js';
import type { Via } from './demux.js';
import { PUNCH_ERR, PunchError } from './errors.js';
import type { WireNatFacts } from './nat-facts.js';
import type { PunchedPath } from './path.js';
import { runChecks, type RunContext } from './punch-run.js';
import type { IncomingPunch, PunchConnectorOptions } from './connector-options.js';
import type {
  PeerHandshakes,
  PunchSignalIn,
  PunchSignalOut,
  WireCandidate,
} from './punch-signals.js';
import {
  creds,
  parseCandidates,
  parseRemote,
  relayWire,
  sameHosts,
  type RemoteDescription,
} from './punch-signals.js';
import {
  abortable,
  MAX_EARLY_CHECKS,
  MAX_EARLY_DATA,
  waitFor,
  type Session,
} from './punch-session.js';

export type { IncomingPunch, PunchConnectorOptions } from './connector-options.js';
export type {
  PeerHandshakes,
  PunchSignalIn,
  PunchSignalOut,
  PunchSignaling,
  WireCandidate,
} from './punch-signals.js';

/**
 * Offers registered with serve that we still answer (newest last). serve keeps only the newest,
 * but one it handed out just as we replaced it may still be named by a punch in flight.
 */
const MAX_OFFERS = 4;

export class PunchConnector {
  readonly demux: SocketDemux;
  readonly #o: PunchConnectorOptions;
  readonly #log: Logger;
  readonly #gatherer: CandidateGatherer;
  readonly #socketTx: StunTransactions;
  #relayTx: StunTransactions | undefined;
  #relayOff: (() => void) | undefined;
  #relayUsed: TurnClient | undefined;
  readonly #sessions = new Map<string, Session>();
  readonly #byUfrag = new Map<string, Session>();
  readonly #incoming = new Set<(p: IncomingPunch) => void>();
  readonly #offs: (() => void)[] = [];
  /** Candidates gathered ahead of time (PUNCH_DEFAULTS.warmCandidatesMs): one at a time. */
  #warm: { at: number; result: Promise<WireCandidate[]> } | undefined;
  /** One-time credentials of the offers registered with serve, by ufrag (MAX_OFFERS). */
  readonly #offers = new Map<string, { creds: IceCredentials; nat?: WireNatFacts }>();
  #offerTimer: TimerHandle | undefined;
  #handshakes: PeerHandshakes | undefined;
  #closed = false;

  constructor(options: PunchConnectorOptions) {
    this.#o = options;
    this.#log = options.logger ?? silentLogger;
    this.demux = new SocketDemux(options.socket, { logger: this.#log });
    this.#socketTx = new StunTransactions({
      send: (b, to) => options.socket.send(b, to),
      clock: options.clock,
      logger: this.#log,
      maxPending: PUNCH_DEFAULTS.maxPendingChecks * PUNCH_LIMITS.maxSessions,
    });
    const turnCredentials = options.signaling.turnCredentials?.bind(options.signaling);
    this.#gatherer = new CandidateGatherer({
      socket: options.socket,
      transactions: this.#socketTx,
      clock: options.clock,
      logger: this.#log,
      interfaces: options.interfaces,
      ...(options.stunServer ? { stunServer: options.stunServer } : {}),
      ...(options.turnServer && turnCredentials
        ? { turn: { server: options.turnServer, credentials: turnCredentials } }
        : {}),
      ...(options.gatherTimeoutMs ? { gatherTimeoutMs: options.gatherTimeoutMs } : {}),
      ...(options.extraCandidates ? { extraCandidates: options.extraCandidates } : {}),
    });
    this.#offs.push(
      this.demux.on('stun-response', (d, from, via) => this.#onResponse(d, from, via)),
      this.demux.on('stun-request', (d, from, via) => this.#onRequest(d, from, via)),
      this.demux.on('session', (d, from, via) => this.#onEarlyData(d, from, via)),
      options.signaling.onSignal((f) => this.#onSignal(f)),
      this.#gatherer.onRelayChange((r) => {
        this.#useRelay(r);
        this.#prewarm(); // the relayed candidate changed: what we hand out must too
        if (r) this.#trickleRelay(r);
      }),
    );
    // Gather now, not inside each connect / answer: both sides then send candidates at once.
    this.#prewarm();
  }

  /**
   * Re-gather in the background when the interfaces changed (a network change) — the socket's
   * mapping and host addresses are then new — or to refresh what `connect` hands out.
   */
  refreshCandidates(): void {
    this.#prewarm();
  }

  /**
   * Carry session handshakes in the checks (the init in our checks, the answer in our success
   * responses): the first direct round trip then sets up the session too. Unset: plain checks.
   */
  setHandshakes(h: PeerHandshakes | undefined): void {
    this.#handshakes = h;
  }

  /** Punches toward this peer's side (`connect` from the other peer) as they arrive. */
  onIncoming(cb: (p: IncomingPunch) => void): () => void {
    this.#incoming.add(cb);
    return () => this.#incoming.delete(cb);
  }

  /**
   * A path to `peer`: joins a punch with it that is running (ours, or one the other side
   * started), else initiates one — exchange candidates, ask serve for a coordinated start, run
   * checks. One punch per pair at a time, whichever side asks first.
   */
  connect(peer: string, o: { signal?: AbortSignal } = {}): Promise<PunchedPath> {
    const running = this.#runningWith(peer);
    if (running?.path) return abortable(running.path, o.signal);
    const s = this.#newSession(peer, randomBytes(9).toString('base64url'), 'controlling');
    const path = this.#initiate(s, o.signal);
    s.path = path;
    path.catch(() => {}); // joiners get the same promise; the caller gets it too
    return path;
  }

  async #initiate(s: Session, signal?: AbortSignal): Promise<PunchedPath> {
    const peer = s.peer;
    this.#gatherer.ensureRelay(); // trickled when made; the direct candidates go now
    try {
      const candidates = await this.#gather(signal);
      const gotRemote = s.merged
        ? Promise.resolve({ path: s.merged }) // glare while we gathered: nothing to send
        : this.#waitCandidates(s, signal);
      if (!s.merged) {
        const offered = this.#withRelay(candidates);
        const facts = this.#facts();
        this.#send({
          type: 'candidates',
          to: peer,
          rid: s.rid,
          candidates: offered,
          ...creds(s.local),
          ...facts,
        });
        s.sent = [...offered];
        s.sentNat = facts.nat;
      }
      const merged = await gotRemote;
      if (merged) {
        // Glare, and the other side's punch won: ours is dropped (the other side ignores it).
        this.#endSession(s);
        return await abortable(merged.path, signal);
      }
      const started = this.#waitStart(s, signal);
      // The answering side asks for the start itself, right behind its candidates (see
      // #respond); ours is for one that does not, and a second punch-start is ignored.
      if (!s.start && !s.startComing) this.#send({ type: 'punch', to: peer, rid: s.rid });
      const { at, rtt } = await started;
      return await runChecks(this.#runContext, s, at, rtt, signal);
    } catch (err) {
      this.#endSession(s);
      if (s.merged && !signal?.aborted) return await abortable(s.merged, signal); // glare
      throw err;
    }
  }

  /** A punch with `peer` that has not ended nor selected a pair yet (one to join). */
  #runningWith(peer: string): Session | undefined {
    for (const s of this.#sessions.values())
      if (s.peer === peer && s.path && !s.agent?.selected && !s.sideSelected) return s;
    return undefined;
  }

  /**
   * Register a fresh offer with serve now (after a reconnect: serve forgot the old one with the
   * connection). No-op unless `registerOffers`.
   */
  registerOffer(): void {
    if (!this.#o.registerOffers || this.#closed) return;
    void this.#gather()
      .then((cs) => this.#offer(cs))
      .catch(() => {});
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#offerTimer?.cancel();
    for (const off of this.#offs) off();
    this.#relayOff?.();
    for (const s of [...this.#sessions.values()]) {
      s.agent?.close();
      s.cancelWait?.(new PunchError(PUNCH_ERR.CLOSED, 'punch connector closed'));
      this.#endSession(s);
    }
    this.#socketTx.close(new PunchError(PUNCH_ERR.CLOSED, 'punch connector closed'));
    this.#relayTx?.close();
    this.demux.close();
    await this.#gatherer.close();
  }

  // ─── session steps ───────────────────────────────────────────────────────────────────────

  #newSession(peer: string, rid: string, role: Role, local = newIceCredentials()): Session {
    if (this.#closed) throw new PunchError(PUNCH_ERR.CLOSED, 'punch connector closed');
    if (this.#sessions.size >= PUNCH_LIMITS.maxSessions)
      throw new PunchError(PUNCH_ERR.OVERLOADED, `more than ${PUNCH_LIMITS.maxSessions} punches`);
    const s: Session = {
      rid,
      peer,
      role,
      initiator: role === 'controlling',
      local,
      agent: undefined,
      early: [],
      earlyData: [],
    };
    this.#sessions.set(rid, s);
    this.#byUfrag.set(s.local.ufrag, s);
    return s;
  }

  #endSession(s: Session): void {
    if (this.#sessions.get(s.rid) === s) this.#sessions.delete(s.rid);
    if (this.#byUfrag.get(s.local.ufrag) === s) this.#byUfrag.delete(s.local.ufrag);
  }

  /** Start a background gather; `#gather` hands it out while it is fresh. */
  #prewarm(): void {
    if (this.#closed) return;
    const result = this.#gatherNow();
    result.catch(() => {}); // a failed warm-up only means the next connect gathers itself
    this.#warm = { at: this.#o.clock.now(), result };
  }

  async #gather(signal?: AbortSignal): Promise<WireCandidate[]> {
    const w = this.#warm;
    const age = w ? this.#o.clock.now() - w.at : Infinity;
    if (w && age < PUNCH_DEFAULTS.warmCandidatesMs) {
      // Past half their life, refresh in the background so the next one stays warm too.
      if (age > PUNCH_DEFAULTS.warmCandidatesMs / 2) this.#prewarm();
      try {
        const cs = await abortable(w.result, signal);
        if (sameHosts(cs, this.#gatherer.hostCandidates())) return cs;
      } catch (err) {
        if (signal?.aborted) throw err;
      }
    }
    const result = this.#gatherNow(signal);
    if (!signal) this.#warm = { at: this.#o.clock.now(), result };
    return result;
  }

  async #gatherNow(signal?: AbortSignal): Promise<WireCandidate[]> {
    const cs = await this.#gatherer.gather(signal, { waitRelay: false });
    this.#useRelay(this.#gatherer.relay);
    const wire = cs.map((c) => ({
      type: c.type,
      protocol: 'udp' as const,
      address: c.address,
      port: c.port,
      priority: c.priority,
    }));
    this.#offer(wire); // what serve hands out must be what we have
    return wire;
  }

  /**
   * Register `candidates` with fresh one-time credentials as our offer at serve. Re-gathered and
   * re-registered every PUNCH_DEFAULTS.offerRefreshMs while idle: the STUN Binding that does it
   * also keeps the server-reflexive mapping the offer names alive in the NAT.
   */
  #offer(candidates: WireCandidate[]): void {
    if (!this.#o.registerOffers || this.#closed) return;
    const c = newIceCredentials();
    this.#offerTimer?.cancel();
    this.#offerTimer = this.#o.clock.setTimeout(
      () => this.#prewarm(),
      PUNCH_DEFAULTS.offerRefreshMs,
    );
    const facts = this.#facts();
    if (!this.#o.signaling.sendSignal({ type: 'offer', candidates, ...creds(c), ...facts })) return;
    this.#offers.set(c.ufrag, { creds: c, ...facts });
    while (this.#offers.size > MAX_OFFERS) this.#offers.delete(this.#offers.keys().next().value!);
  }

  /** The other side's candidates (undefined), or the punch ours merged into on glare. */
  #waitCandidates(
    s: Session,
    signal?: AbortSignal,
  ): Promise<{ path: Promise<PunchedPath> } | undefined> {
    return waitFor(s, this.#waitOptions('candidates', signal), (done) => {
      s.onCandidates = () => done(undefined);
      s.onMerged = (path) => done({ path });
    });
  }

  #waitStart(s: Session, signal?: AbortSignal): Promise<{ at: number; rtt: number }> {
    return waitFor(s, this.#waitOptions('punch-start', signal), (done) => {
      if (s.start) return done(s.start);
      s.onStart = (at, rtt) => done({ at, rtt });
    });
  }

  get #runContext(): RunContext {
    return {
      options: this.#o,
      log: this.#log,
      demux: this.demux,
      socketTx: this.#socketTx,
      relay: () => this.#gatherer.relay,
      relayTx: () => this.#relayTx,
      handshakes: () => this.#handshakes,
      sendVia: (b, to, via) => this.#sendVia(b, to, via),
      permit: (r, cs) => this.#permit(r, cs),
      endSession: (s) => this.#endSession(s),
    };
  }

  #waitOptions(what: string, signal: AbortSignal | undefined) {
    const ms = this.#o.signalTimeoutMs ?? PUNCH_DEFAULTS.signalTimeoutMs;
    return { clock: this.#o.clock, ms, what, signal };
  }

  /** Our relay must permit the remote's public addresses before relayed checks can cross. */
  #permit(relay: TurnClient, remote: readonly Candidate[]): void {
    const ips = new Set(
      remote.filter((c) => c.type !== 'host').map((c) => normalizeAddress(c.address)),
    );
    // One request per address: serve refuses private ones (403), which must not sink the rest.
    for (const ip of ips) void relay.createPermission(ip).catch(() => {});
  }

  // ─── incoming frames and datagrams ───────────────────────────────────────────────────────

  #onSignal(f: PunchSignalIn): void {
    if (this.#closed) return;
    if (f.type === 'punch-start') {
      const s = this.#sessions.get(f.rid);
      if (s && s.peer === f.from) {
        s.start ??= { at: f.at, rtt: f.rtt };
        s.onStart?.(f.at, f.rtt);
      }
      return;
    }
    const s = this.#sessions.get(f.rid);
    if (s && s.peer === f.from && s.remote && f.ufrag === undefined) {
      // Trickled (a relayed candidate made after the first frame): same session, more pairs.
      for (const c of parseCandidates(f.candidates)) {
        if (s.remote.candidates.length >= PUNCH_LIMITS.maxRemoteCandidates) break;
        s.remote.candidates.push(c);
        s.agent?.addRemote(c);
      }
      const relay = this.#gatherer.relay;
      if (s.agent && relay) this.#permit(relay, s.remote.candidates);
      return;
    }
    const remote = parseRemote(f);
    if (!remote) return this.#log.debug('candidates without ice credentials', { from: f.from });
    if (s) {
      if (s.peer !== f.from || s.remote) return;
      s.remote = remote;
      // An offer serve handed out: it sends punch-start right behind (no `punch` from us).
      if (f.answered !== undefined) s.startComing = true;
      s.onCandidates?.();
      return;
    }
    // serve answered for us with a registered offer: those credentials are this session's (once).
    let local: { creds: IceCredentials; nat?: WireNatFacts } | undefined;
    if (f.answered !== undefined) {
      local = this.#offers.get(f.answered);
      this.#offers.delete(f.answered);
      this.registerOffer(); // the next punch toward us gets a fresh one
      if (!local) return this.#log.debug('punch answered with an unknown offer', { from: f.from });
    }
    if (this.#o.accept && !this.#o.accept(f.from)) return;
    // Glare: both sides initiated. Deterministic on both sides: the punch of the lower peer id
    // goes on (its initiator stays controlling); the higher side answers it and drops its own,
    // and its own connect follows that path. The lower side ignores the higher's punch: the
    // higher side drops it as soon as the lower's arrives (same server, in order).
    const own = this.#o.localPeerId === undefined ? undefined : this.#ownPending(f.from);
    if (own) {
      if (this.#o.localPeerId! < f.from) return;
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

  /** Our own punch toward `peer` that has not selected a pair yet. */
  #ownPending(peer: string): Session | undefined {
    for (const s of this.#sessions.values())
      if (s.peer === peer && s.initiator && !s.merged && !s.agent?.selected && !s.sideSelected)
        return s;
    return undefined;
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
      s = this.#newSession(peer, rid, 'controlled', offered?.creds);
    } catch (err) {
      this.#log.warn('punch refused', { peer, err: String(err) });
      return undefined;
    }
    s.remote = remote;
    this.#gatherer.ensureRelay(); // trickled when made; the direct candidates go now
    const path = (async () => {
      try {
        const started = this.#waitStart(s);
        // serve answered with our offer and sends punch-start to both: nothing to send.
        if (offered) {
          s.sent = []; // serve sent our offer; a relayed candidate made since is trickled
          s.sentNat = offered.nat;
          const { at, rtt } = await started;
          return await runChecks(this.#runContext, s, at, rtt);
        }
        const candidates = this.#withRelay(await this.#gather());
        const facts = this.#facts();
        this.#send({ type: 'candidates', to: peer, rid, candidates, ...creds(s.local), ...facts });
        s.sent = [...candidates];
        s.sentNat = facts.nat;
        // Ask for the coordinated start now: serve forwards our candidates first, then sends both
        // sides punch-start, so the initiator's own `punch` (two one-way trips later) is not
        // waited for. Refused silently if the initiator does not allow us; its `punch` then runs.
        this.#send({ type: 'punch', to: peer, rid });
        const { at, rtt } = await started;
        return await runChecks(this.#runContext, s, at, rtt);
      } catch (err) {
        this.#endSession(s);
        throw err;
      }
    })();
    path.catch(() => {}); // the listener gets the same promise; no unhandled rejection here
    s.path = path;
    for (const l of this.#incoming) l({ peer, rid, path });
    return path;
  }

  #onRequest(data: Uint8Array, from: Endpoint, via: Via): void {
    let msg: StunMessage;
    try {
      msg = decodeStunMessage(data);
    } catch {
      return;
    }
    const ufrag = checkTarget(msg);
    const s = ufrag === undefined ? undefined : this.#byUfrag.get(ufrag);
    if (!s) return;
    if (s.agent) return s.agent.handleRequest(msg, from, via);
    // RFC 8445 §7.3.1.4-like: the remote started before our agent exists; keep a few.
    if (s.early.length < MAX_EARLY_CHECKS) s.early.push({ msg, from, via });
  }

  #onResponse(data: Uint8Array, from: Endpoint, via: Via): void {
    let msg: StunMessage;
    try {
      msg = decodeStunMessage(data);
    } catch {
      return;
    }
    for (const s of this.#sessions.values()) {
      const verdict = s.agent?.screenResponse(msg);
      if (verdict === 'forged') return; // never reaches the engine: the check goes on
      if (verdict === 'mine') break;
    }
    const tx = via === 'relay' ? this.#relayTx : this.#socketTx;
    tx?.handle(data, from);
  }

  /** Keep datagrams from a remote that proved itself with a check, until we select (bounded). */
  #onEarlyData(data: Uint8Array, from: Endpoint, via: Via): void {
    for (const s of this.#sessions.values()) {
      const a = s.agent;
      if (!a || a.selected || !a.heardFrom(from, via)) continue;
      if (s.earlyData.length < MAX_EARLY_DATA)
        s.earlyData.push({ data: Uint8Array.from(data), from, via });
      return;
    }
  }

  /** The relayed candidate, if we have one now and `cs` lacks it (gathered before it came). */
  #withRelay(cs: WireCandidate[]): WireCandidate[] {
    const r = this.#gatherer.relay;
    if (!r || r.closed || cs.some((c) => c.type === 'relay')) return cs;
    return [...cs, relayWire(r)];
  }

  /**
   * Our relayed candidate came after some punches sent their candidates (the gather does not
   * wait for it): trickle it to each running one (a `candidates` frame without credentials, same
   * rid), and give their agents the relay base. A direct pair never waited for it.
   */
  #trickleRelay(relay: TurnClient): void {
    const c = relayWire(relay);
    for (const s of this.#sessions.values()) {
      if (!s.sent || s.agent?.selected || s.sent.some((x) => x.type === 'relay')) continue;
      s.sent.push(c);
      this.#o.signaling.sendSignal({ type: 'candidates', to: s.peer, rid: s.rid, candidates: [c] });
      if (s.agent && this.#relayTx) {
        s.agent.addRelayBase(this.#relayTx, candidatePriority('relay'));
        if (s.remote) this.#permit(relay, s.remote.candidates);
      }
    }
  }

  #useRelay(relay: TurnClient | undefined): void {
    // Every gather reports the relay; the same one keeps its transactions (running agents' checks).
    if (relay && relay === this.#relayUsed && this.#relayTx && !relay.closed) return;
    this.#relayUsed = relay;
    this.#relayOff?.();
    this.#relayOff = undefined;
    this.#relayTx?.close();
    this.#relayTx = undefined;
    if (!relay || this.#closed) return;
    this.#relayTx = new StunTransactions({
      send: (b, to) => relay.send(to, b),
      clock: this.#o.clock,
      logger: this.#log,
      maxPending: PUNCH_DEFAULTS.maxPendingChecks,
    });
    this.#relayOff = relay.onData((data, from) => this.demux.dispatch(data, from, 'relay'));
  }

  #sendVia(bytes: Uint8Array, to: Endpoint, via: Via): void {
    if (via === 'relay') {
      const relay = this.#gatherer.relay;
      if (relay && !relay.closed) relay.send(to, bytes);
      return;
    }
    if (
      !this.#o.socket.closed &&
      familyOf(to.address) === familyOf(this.#o.socket.address().address)
    )
      this.#o.socket.send(bytes, to);
  }

  /** Our NAT facts for a frame (none without the hard-NAT hooks). */
  #facts(): { nat?: WireNatFacts } {
    const nat = this.#o.hardNat?.facts();
    return nat ? { nat } : {};
  }

  #send(frame: PunchSignalOut): void {
    if (!this.#o.signaling.sendSignal(frame))
      throw new PunchError(PUNCH_ERR.NOT_CONNECTED, 'signaling is not connected');
  }
}
