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
import type { Endpoint, UdpSocket } from '../net/udp.js';
import { familyOf, normalizeAddress } from '../net/udp.js';
import type { TurnClient } from '../relay/index.js';
import { decodeStunMessage } from '../stun/message.js';
import type { StunMessage } from '../stun/message.js';
import { StunTransactions } from '../stun/transaction.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import type { Candidate, RelayCredentials } from './candidates.js';
import { CandidateGatherer, candidatePriority } from './candidates.js';
import type { IceCredentials, Role } from './check-message.js';
import { checkTarget, newIceCredentials, newTieBreaker } from './check-message.js';
import { CheckAgent } from './checks.js';
import { PUNCH_DEFAULTS, PUNCH_LIMITS } from './constants.js';
import { SocketDemux } from './demux.js';
import type { Via } from './demux.js';
import { PUNCH_ERR, PunchError } from './errors.js';
import type { PunchedPath } from './path.js';
import { createPunchedPath } from './path.js';

/** Rendezvous frames the connector sends (the signaling schema's `candidates` and `punch`). */
export type PunchSignalOut =
  | {
      type: 'candidates';
      to: string;
      rid: string;
      candidates: WireCandidate[];
      ufrag?: string;
      pwd?: string;
    }
  | { type: 'punch'; to: string; rid: string }
  | { type: 'offer'; candidates: WireCandidate[]; ufrag: string; pwd: string };

/** Rendezvous frames the server forwards (`candidates` from the other side, `punch-start`). */
export type PunchSignalIn =
  | {
      type: 'candidates';
      from: string;
      rid: string;
      candidates: WireCandidate[];
      ufrag?: string;
      pwd?: string;
      /** serve answered this punch at once with our registered offer of this ufrag. */
      answered?: string;
    }
  | { type: 'punch-start'; from: string; rid: string; at: number; rtt: number };

export interface WireCandidate {
  type: 'host' | 'srflx' | 'prflx' | 'relay';
  protocol: 'udp' | 'tcp';
  address: string;
  port: number;
  priority?: number;
}

/**
 * The session layer's side of a handshake carried in the checks (checks.ts `CheckHandshake`),
 * per remote peer: `Peer` routes it to the peer's link (peer-link.ts).
 */
export interface PeerHandshakes {
  init(peer: string): Uint8Array | undefined;
  answer(peer: string, init: Uint8Array): Uint8Array | undefined;
  response(peer: string, resp: Uint8Array): void;
}

/** CONTRACTS §4: what `Peer` offers the punch layer. */
export interface PunchSignaling {
  sendSignal(frame: PunchSignalOut): boolean;
  onSignal(cb: (frame: PunchSignalIn) => void): () => void;
  /** Server clock minus ours (from `welcome.time`). */
  readonly clockOffsetMs: number;
  turnCredentials?(): Promise<RelayCredentials>;
}

export interface PunchConnectorOptions {
  /** The peer's one UDP socket (the connector never closes it). */
  socket: UdpSocket;
  signaling: PunchSignaling;
  clock: Clock;
  logger?: Logger;
  /** Interface addresses for host candidates. */
  interfaces: () => readonly string[];
  /** serve's STUN server (srflx). */
  stunServer?: Endpoint;
  /** serve's TURN server (relayed candidate; credentials from `signaling.turnCredentials`). */
  turnServer?: Endpoint;
  /** Its TCP endpoint: the allocation goes there when UDP gets no answer (UDP-blocked). */
  turnTcpServer?: Endpoint;
  /** Answer punches from this peer? Default: yes (serve forwards only from allowed peers). */
  accept?: (peer: string) => boolean;
  /** More candidates on the socket (a port mapping: punch/portmap mappedCandidates). */
  extraCandidates?: (gathered: readonly Candidate[]) => readonly Candidate[];
  /**
   * This peer's id. With it, either side may start a punch and glare (both start at once) ends
   * in one session: the punch of the lower peer id goes on, the other side answers it and its
   * own `connect` follows that path. Without it both punches run (the old behaviour).
   */
  localPeerId?: string;
  /**
   * Register an offer with serve (`offer`: warm candidates and one-time ICE credentials), so
   * that serve answers a punch toward us at once, as it forwards the punch: the initiator gets
   * our candidates one signaling round trip earlier and both sides start checks when serve's
   * `punch-start` arrives. Each offer answers one punch; a new one is registered after each use
   * and whenever the candidates change. Default false.
   */
  registerOffers?: boolean;
  /** Tuning (defaults in PUNCH_DEFAULTS). */
  taMs?: number;
  directGraceMs?: number;
  punchTimeoutMs?: number;
  gatherTimeoutMs?: number;
  signalTimeoutMs?: number;
  consentIntervalMs?: number;
  consentTimeoutMs?: number;
}

export interface IncomingPunch {
  peer: string;
  rid: string;
  path: Promise<PunchedPath>;
}

interface Session {
  readonly rid: string;
  readonly peer: string;
  readonly role: Role;
  /** We started it (`connect`); the other side answers. */
  readonly initiator: boolean;
  readonly local: IceCredentials;
  agent: CheckAgent | undefined;
  remote?: { creds: IceCredentials; candidates: Candidate[] };
  /** Resolves when the other side's candidates arrive. */
  onCandidates?: () => void;
  /** Glare (see `localPeerId`): our connect follows the other side's punch instead. */
  merged?: Promise<PunchedPath>;
  onMerged?: (path: Promise<PunchedPath>) => void;
  /** The punch's outcome (set as it starts): a second `connect` toward the peer joins it. */
  path?: Promise<PunchedPath>;
  onStart?: (at: number, rtt: number) => void;
  /** Our candidates as the other side got them (undefined until sent): trickling adds to it. */
  sent?: WireCandidate[];
  /** The answer was an offer serve handed out: its punch-start is on the way. */
  startComing?: boolean;
  /** A punch-start that came before we waited for it (right behind the answer's candidates). */
  start?: { at: number; rtt: number };
  /** Ends a wait for the other side early (close()). */
  cancelWait?: (err: Error) => void;
  /** Checks that arrived before the agent existed are not lost: the agent answers them later. */
  readonly early: { msg: StunMessage; from: Endpoint; via: Via }[];
  /** Session datagrams from an authenticated remote that arrived before our selection. */
  readonly earlyData: { data: Uint8Array; from: Endpoint; via: Via }[];
}

/**
 * Offers registered with serve that we still answer (newest last). serve keeps only the newest,
 * but one it handed out just as we replaced it may still be named by a punch in flight.
 */
const MAX_OFFERS = 4;

/** Checks kept per session while its agent is not built yet (the remote started early). */
const MAX_EARLY_CHECKS = 16;
/**
 * Session datagrams kept per session between the controlling side's selection and ours (one or
 * two check round trips; the session layer sends a handshake and a few datagrams in that time).
 */
const MAX_EARLY_DATA = 32;

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
  readonly #offers = new Map<string, IceCredentials>();
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
        ? {
            turn: {
              server: options.turnServer,
              ...(options.turnTcpServer ? { tcpServer: options.turnTcpServer } : {}),
              credentials: turnCredentials,
            },
          }
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
        this.#send({
          type: 'candidates',
          to: peer,
          rid: s.rid,
          candidates: offered,
          ...creds(s.local),
        });
        s.sent = [...offered];
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
      return await this.#run(s, at, rtt, signal);
    } catch (err) {
      this.#endSession(s);
      if (s.merged && !signal?.aborted) return await abortable(s.merged, signal); // glare
      throw err;
    }
  }

  /** A punch with `peer` that has not ended nor selected a pair yet (one to join). */
  #runningWith(peer: string): Session | undefined {
    for (const s of this.#sessions.values())
      if (s.peer === peer && s.path && !s.agent?.selected) return s;
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
    if (!this.#o.signaling.sendSignal({ type: 'offer', candidates, ...creds(c) })) return;
    this.#offers.set(c.ufrag, c);
    while (this.#offers.size > MAX_OFFERS) this.#offers.delete(this.#offers.keys().next().value!);
  }

  /** The other side's candidates (undefined), or the punch ours merged into on glare. */
  #waitCandidates(
    s: Session,
    signal?: AbortSignal,
  ): Promise<{ path: Promise<PunchedPath> } | undefined> {
    return this.#wait(s, signal, 'candidates', (done) => {
      s.onCandidates = () => done(undefined);
      s.onMerged = (path) => done({ path });
    });
  }

  #waitStart(s: Session, signal?: AbortSignal): Promise<{ at: number; rtt: number }> {
    return this.#wait(s, signal, 'punch-start', (done) => {
      if (s.start) return done(s.start);
      s.onStart = (at, rtt) => done({ at, rtt });
    });
  }

  #wait<T>(
    s: Session,
    signal: AbortSignal | undefined,
    what: string,
    arm: (done: (v: T) => void) => void,
  ): Promise<T> {
    const ms = this.#o.signalTimeoutMs ?? PUNCH_DEFAULTS.signalTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted) return reject(new PunchError(PUNCH_ERR.ABORTED, 'aborted'));
      const onAbort = (): void => finish(new PunchError(PUNCH_ERR.ABORTED, 'aborted'));
      const timer = this.#o.clock.setTimeout(
        () =>
          finish(
            new PunchError(PUNCH_ERR.SIGNAL_TIMEOUT, `no ${what} from ${s.peer} within ${ms} ms`),
          ),
        ms,
      );
      const finish = (v: T | Error): void => {
        timer.cancel();
        signal?.removeEventListener('abort', onAbort);
        if (v instanceof Error) reject(v);
        else resolve(v);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      s.cancelWait = finish;
      arm((v) => finish(v));
    });
  }

  /** Build the agent, wait for the coordinated start, check, and hand back the selected path. */
  #run(s: Session, at: number, rtt: number, signal?: AbortSignal): Promise<PunchedPath> {
    const remote = s.remote!;
    const relay = this.#gatherer.relay;
    const agent = new CheckAgent({
      role: s.role,
      tieBreaker: newTieBreaker(),
      local: s.local,
      remote: remote.creds,
      localPriority: { socket: candidatePriority('host'), relay: candidatePriority('relay') },
      transactions: {
        socket: this.#socketTx,
        ...(relay && this.#relayTx ? { relay: this.#relayTx } : {}),
      },
      send: (bytes, to, via) => this.#sendVia(bytes, to, via),
      clock: this.#o.clock,
      logger: this.#log,
      handshake: {
        init: () => this.#handshakes?.init(s.peer),
        answer: (d) => this.#handshakes?.answer(s.peer, d),
        response: (d) => this.#handshakes?.response(s.peer, d),
      },
      // RFC 8445 §14.3: a first RTO below the round trip only wastes packets; serve's measured
      // RTT to the slower side is the best guess we have of the direct one.
      checkRetransmission: {
        ...PUNCH_DEFAULTS.checkRetransmission,
        rtoMs: Math.max(PUNCH_DEFAULTS.checkRetransmission.rtoMs, Math.min(1_000, Math.round(rtt))),
      },
      ...pick(this.#o, [
        'taMs',
        'directGraceMs',
        'punchTimeoutMs',
        'consentIntervalMs',
        'consentTimeoutMs',
      ]),
    });
    s.agent = agent;
    for (const c of remote.candidates) agent.addRemote(c);
    if (relay) this.#permit(relay, remote.candidates);
    for (const e of s.early.splice(0)) agent.handleRequest(e.msg, e.from, e.via);

    return new Promise<PunchedPath>((resolve, reject) => {
      const onAbort = (): void => {
        agent.close();
        this.#endSession(s);
        reject(new PunchError(PUNCH_ERR.ABORTED, 'aborted'));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      s.cancelWait = (err) => {
        signal?.removeEventListener('abort', onAbort);
        reject(err);
      };
      agent.onSelected((pair) => {
        s.cancelWait = undefined;
        signal?.removeEventListener('abort', onAbort);
        resolve(
          createPunchedPath({
            agent,
            pair,
            demux: this.demux,
            relay: this.#gatherer.relay,
            early: s.earlyData.splice(0),
            onClose: () => this.#endSession(s),
          }),
        );
      });
      // A path that died may have died with our relay (issue 12): Refresh it now, so a dead
      // relay is replaced at once, not at its next scheduled Refresh (~9 min).
      agent.onDead(() => this.#gatherer.checkRelay());
      agent.onFailed((reason) => {
        signal?.removeEventListener('abort', onAbort);
        agent.close();
        this.#endSession(s);
        reject(new PunchError(PUNCH_ERR.FAILED, `punch with ${s.peer} failed: ${reason}`));
      });
      // `at` is server time; ours = at − offset. Never wait absurdly long on a bad offset. The
      // controlled side starts a little ahead (PUNCH_DEFAULTS.controlledHeadStartMs) so that its
      // NAT is open when the controlling side's first check — the one whose answer selects the
      // path (aggressive nomination) — arrives.
      const head = s.role === 'controlled' ? PUNCH_DEFAULTS.controlledHeadStartMs : 0;
      const localAt = at - this.#o.signaling.clockOffsetMs - head;
      const max = PUNCH_DEFAULTS.maxStartDelayMs;
      const delay = Math.min(max, Math.max(0, localAt - this.#o.clock.now()));
      this.#o.clock.setTimeout(() => agent.start(), delay);
    });
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
    let local: IceCredentials | undefined;
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
      if (own.onMerged) own.onMerged(path);
      else own.cancelWait?.(new PunchError(PUNCH_ERR.ABORTED, 'glare: following the other punch'));
      return;
    }
    void this.#respond(f.from, f.rid, remote, local); // its outcome goes to onIncoming listeners
  }

  /** Our own punch toward `peer` that has not selected a pair yet. */
  #ownPending(peer: string): Session | undefined {
    for (const s of this.#sessions.values())
      if (s.peer === peer && s.initiator && !s.merged && !s.agent?.selected) return s;
    return undefined;
  }

  /** The other side initiated: answer with our candidates, wait for punch-start, check. */
  #respond(
    peer: string,
    rid: string,
    remote: NonNullable<Session['remote']>,
    offered?: IceCredentials,
  ): Promise<PunchedPath> | undefined {
    let s: Session;
    try {
      s = this.#newSession(peer, rid, 'controlled', offered);
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
          const { at, rtt } = await started;
          return await this.#run(s, at, rtt);
        }
        const candidates = this.#withRelay(await this.#gather());
        this.#send({ type: 'candidates', to: peer, rid, candidates, ...creds(s.local) });
        s.sent = [...candidates];
        // Ask for the coordinated start now: serve forwards our candidates first, then sends both
        // sides punch-start, so the initiator's own `punch` (two one-way trips later) is not
        // waited for. Refused silently if the initiator does not allow us; its `punch` then runs.
        this.#send({ type: 'punch', to: peer, rid });
        const { at, rtt } = await started;
        return await this.#run(s, at, rtt);
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

  #send(frame: PunchSignalOut): void {
    if (!this.#o.signaling.sendSignal(frame))
      throw new PunchError(PUNCH_ERR.NOT_CONNECTED, 'signaling is not connected');
  }
}

function relayWire(r: TurnClient): WireCandidate {
  return {
    type: 'relay',
    protocol: 'udp',
    address: r.relayedAddress.address,
    port: r.relayedAddress.port,
    priority: candidatePriority('relay'),
  };
}

/** The warm candidates still name this host's addresses (no interface came or went). */
function sameHosts(cs: readonly WireCandidate[], hosts: readonly Candidate[]): boolean {
  const warm = cs.filter((c) => c.type === 'host');
  return (
    warm.length === hosts.length &&
    hosts.every((h) => warm.some((c) => c.address === h.address && c.port === h.port))
  );
}

function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(new PunchError(PUNCH_ERR.ABORTED, 'aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new PunchError(PUNCH_ERR.ABORTED, 'aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function creds(c: IceCredentials): { ufrag: string; pwd: string } {
  return { ufrag: c.ufrag, pwd: c.pwd };
}

function parseRemote(
  f: Extract<PunchSignalIn, { type: 'candidates' }>,
): { creds: IceCredentials; candidates: Candidate[] } | undefined {
  if (!f.ufrag || !f.pwd) return undefined;
  return { creds: { ufrag: f.ufrag, pwd: f.pwd }, candidates: parseCandidates(f.candidates) };
}

function parseCandidates(cs: readonly WireCandidate[]): Candidate[] {
  return cs
    .filter((c) => c.protocol === 'udp')
    .slice(0, PUNCH_LIMITS.maxRemoteCandidates)
    .map((c) => ({
      type: c.type,
      address: c.address,
      port: c.port,
      priority: c.priority ?? 0,
    }));
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
