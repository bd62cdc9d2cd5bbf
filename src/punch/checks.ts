/**
 * Connectivity checks (RFC 8445 §6.1.4, §7) for one session with one remote peer: a checklist of
 * pairs (local base × remote candidate), all checked at once, paced every Ta; triggered checks
 * when a check arrives; peer-reflexive candidates from unknown sources; nomination; and, after
 * nomination, consent freshness (RFC 7675) on the selected pair.
 *
 *   pair states (§6.1.2.6):  waiting ──Ta──▶ in-progress ──response──▶ succeeded
 *                                                  └──── no answer (13.4 s) ─▶ failed
 *
 * Nomination (§8.1.1, "regular"): the controlling side sends a check with USE-CANDIDATE on the
 * first DIRECT pair that succeeded; a relayed pair only when no direct pair succeeded within
 * `directGraceMs` or every direct pair failed (a relay is the fallback, RFC 8445 §5.1.2.2 ranks it
 * last). The controlling side selects the pair when that check is answered; the controlled side
 * when it got USE-CANDIDATE on a pair whose own check succeeded (§7.3.1.5).
 *
 * Aggressive nomination (RFC 5245 §8.1.1.2, which RFC 8445 dropped for interop, not for safety):
 * the controlling side also puts USE-CANDIDATE on its ordinary checks of DIRECT pairs and selects
 * the first one answered, so the path is up one round trip earlier (the nomination check is the
 * last round trip of the regular scheme). The controlled side's rule is unchanged (its own check
 * must have succeeded), so a replayed nomination still selects nothing. With several working
 * direct pairs the two sides may select different ones (each its first); the data filter
 * therefore takes session datagrams from any pair whose own authenticated check succeeded on the
 * selected base (RFC 8445's valid list), not only from the selected remote.
 *
 * The parts live beside this file: the pair table and its order (checklist.ts), which pair to
 * nominate (nomination.ts), role conflicts (role-conflict.ts), the session handshake carried in
 * checks (handshake-in-check.ts) and consent freshness (consent.ts). This file is the agent that
 * runs them: pacing every Ta, the triggered-check queue, the responder, selection.
 *
 * Checks and responses whose MESSAGE-INTEGRITY does not verify with the session's pwd are dropped
 * before they touch any state, so a third party can neither open a pair, nor learn a prflx
 * candidate into our list, nor complete or fail a check.
 */
import { setMaxListeners } from 'node:events';
import type { Endpoint } from '../net/udp.js';
import { endpointKey, sameEndpoint } from '../net/udp.js';
import { Attr } from '../stun/attribute-type.js';
import { readErrorCode, readXorAddress } from '../stun/attributes.js';
import { StunClass } from '../stun/message-type.js';
import type { StunMessage } from '../stun/message.js';
import type { StunTransactions } from '../stun/transaction.js';
import type { TimerHandle } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import type { Candidate, CandidateBase } from './candidates.js';
import { candidatePriority } from './candidates.js';
import type { IceCredentials, Role } from './check-message.js';
import {
  buildCheck,
  buildCheckSuccess,
  buildRoleConflict,
  responseHandshake,
  verifyCheck,
  verifyCheckResponse,
} from './check-message.js';
import { Checklist } from './checklist.js';
import { PUNCH_DEFAULTS, PUNCH_LIMITS } from './constants.js';
import type { Via } from './demux.js';
import type { CandidatePair, CheckAgentOptions, CheckStats } from './check-types.js';
import { txHex } from './check-types.js';
import { ConsentFreshness } from './consent.js';
import { HandshakeCarrier } from './handshake-in-check.js';
import { pickNomination } from './nomination.js';
import { otherRole, resolveRoleConflict } from './role-conflict.js';

export type {
  CandidatePair,
  CheckAgentOptions,
  CheckHandshake,
  CheckStats,
  PairState,
  PathKind,
} from './check-types.js';
export { pairPriority, txHex } from './check-types.js';

type Listener<T> = (v: T) => void;

export class CheckAgent {
  readonly stats: CheckStats = {
    checksSent: 0,
    requestsAnswered: 0,
    requestsRejected: 0,
    responsesRejected: 0,
    prflxLearned: 0,
    roleConflicts: 0,
  };
  role: Role;
  readonly #o: CheckAgentOptions;
  readonly #log: Logger;
  readonly #list: Checklist;
  /** Pair ids whose check is to go out at the next Ta, ahead of the ordinary ones (§6.1.4.1). */
  readonly #triggered: string[] = [];
  /** The latest check transaction id per pair (bounded by the pair table). */
  readonly #pairTx = new Map<string, Uint8Array>();
  /** Outstanding transaction ids (hex) of our checks → pair id; answers are verified first. */
  readonly #inflight = new Map<string, string>();
  readonly #carrier: HandshakeCarrier;
  readonly #abort = new AbortController();
  #pacer: TimerHandle | undefined;
  #timers: TimerHandle[] = [];
  #startedAt = 0;
  #running = false;
  #nominating: CandidatePair | undefined;
  #selected: CandidatePair | undefined;
  #done = false;
  readonly #consent: ConsentFreshness;
  #moveCheck = false;
  #movedTo: Endpoint | undefined;
  readonly #onSelected = new Set<Listener<CandidatePair>>();
  readonly #onFailed = new Set<Listener<string>>();
  readonly #onDead = new Set<Listener<string>>();
  readonly #onRemoteMoved = new Set<Listener<Endpoint>>();

  constructor(options: CheckAgentOptions) {
    // Every check transaction of this session listens on one signal: as many as may be pending
    // (a replaced check stays answerable beside its successor), more than Node's default 10.
    setMaxListeners(2 * PUNCH_DEFAULTS.maxPendingChecks, this.#abort.signal);
    this.#o = options;
    this.role = options.role;
    this.#log = options.logger ?? silentLogger;
    this.#list = new Checklist((base) =>
      base === 'socket' ? options.localPriority.socket : (options.localPriority.relay ?? 0),
    );
    this.#carrier = new HandshakeCarrier(options.handshake, this.#log);
    this.#consent = new ConsentFreshness({
      clock: options.clock,
      intervalMs: options.consentIntervalMs ?? PUNCH_DEFAULTS.consentIntervalMs,
      timeoutMs: options.consentTimeoutMs ?? PUNCH_DEFAULTS.consentTimeoutMs,
      random: options.random ?? Math.random,
      alive: () => this.#selected !== undefined && !this.#done,
      check: () => this.#consentCheck(),
      onLost: (reason) => {
        this.#done = true;
        for (const l of this.#onDead) l(reason);
      },
    });
  }

  get local(): IceCredentials {
    return this.#o.local;
  }

  get selected(): CandidatePair | undefined {
    return this.#selected;
  }

  pairs(): readonly CandidatePair[] {
    return [...this.#list.values()];
  }

  onSelected(cb: Listener<CandidatePair>): () => void {
    this.#onSelected.add(cb);
    return () => this.#onSelected.delete(cb);
  }

  /** No pair could be selected (reason in the argument). */
  onFailed(cb: Listener<string>): () => void {
    this.#onFailed.add(cb);
    return () => this.#onFailed.delete(cb);
  }

  /** Consent lost on the selected pair (RFC 7675 §5.1: no answer for 30 s). */
  onDead(cb: Listener<string>): () => void {
    this.#onDead.add(cb);
    return () => this.#onDead.delete(cb);
  }

  /**
   * The remote moved: an authenticated check came from a new source after selection (its NAT
   * rebound, or its address changed) AND our own check to that source was answered. The second
   * condition keeps a third party that replays a sniffed check from its own address from
   * triggering re-punches: it cannot sign the answer.
   */
  onRemoteMoved(cb: Listener<Endpoint>): () => void {
    this.#onRemoteMoved.add(cb);
    return () => this.#onRemoteMoved.delete(cb);
  }

  /** Add a remote candidate (from the `candidates` frame); bounded (PUNCH_LIMITS). */
  addRemote(c: Candidate): void {
    if (!this.#list.addRemote(c)) return;
    // RFC 8445 §6.1.2.4: a relayed remote is reached from the socket; relay→relay pairs are not
    // formed (serve's relay refuses its own addresses as peers, RFC 8656 §21.1.5).
    this.#pair('socket', c);
    if (this.#o.transactions.relay && c.type !== 'relay') this.#pair('relay', c);
    this.#kick(); // trickled after start: check the new pairs too
  }

  /**
   * Our relayed candidate arrived after the agent was made (trickled, candidates.ts): pairs on
   * the relay base for every remote candidate that is not relayed itself.
   */
  addRelayBase(tx: StunTransactions, relayPriority: number): void {
    if (this.#o.transactions.relay || this.#done) return;
    this.#o.transactions.relay = tx;
    this.#o.localPriority.relay = relayPriority;
    for (const c of this.#list.remotes()) if (c.type !== 'relay') this.#pair('relay', c);
    this.#kick();
  }

  #kick(): void {
    if (this.#running && !this.#pacer && !this.#selected) this.#tick();
  }

  /** Begin checking (at the coordinated start time). */
  start(): void {
    if (this.#running || this.#done) return;
    this.#running = true;
    this.#startedAt = this.#o.clock.now();
    this.#tick();
    const grace = this.#o.directGraceMs ?? PUNCH_DEFAULTS.directGraceMs;
    this.#timers.push(this.#o.clock.setTimeout(() => this.#maybeNominate(), grace));
    const timeout = this.#o.punchTimeoutMs ?? PUNCH_DEFAULTS.punchTimeoutMs;
    this.#timers.push(
      this.#o.clock.setTimeout(() => {
        if (!this.#selected) this.#fail(`no pair selected within ${timeout} ms`);
      }, timeout),
    );
  }

  /** Stop everything (checks, consent, timers); no event fires after this. */
  close(): void {
    this.#done = true;
    this.#running = false;
    this.#stopChecks();
    this.#consent.stop();
    this.#onSelected.clear();
    this.#onFailed.clear();
    this.#onDead.clear();
    this.#onRemoteMoved.clear();
  }

  // ─── incoming ────────────────────────────────────────────────────────────────────────────

  /**
   * A Binding request addressed to our ufrag (RFC 8445 §7.3). Answered only when it verifies.
   * Checks arriving before `start()` are answered and queued as triggered checks (§7.3.1.4), so a
   * peer whose clock runs ahead does not lose its first checks.
   */
  handleRequest(msg: StunMessage, from: Endpoint, via: Via): void {
    if (this.#done && !this.#selected) return;
    const check = verifyCheck(msg, this.#o.local, this.#o.remote);
    if (!check) {
      this.stats.requestsRejected++;
      return;
    }
    if (this.#roleConflict(msg, check.role, check.tieBreaker, from, via)) return;
    this.stats.requestsAnswered++;
    const answer = check.handshake ? this.#carrier.answer(check.handshake) : undefined;
    this.#o.send(buildCheckSuccess(msg, from, this.#o.local.pwd, answer), from, via);

    const base: CandidateBase = via === 'relay' ? 'relay' : 'socket';
    if (via === 'relay' && !this.#o.transactions.relay) return;
    let pair = this.#list.find(base, from);
    if (!pair) {
      if (this.#selected) {
        // Same peer, authenticated, new source: its NAT rebound (or its address changed).
        if (base === this.#selected.base) this.#verifyMove(from);
        return;
      }
      // A known remote reached on another base (e.g. through our relay), or RFC 8445 §7.3.1.3:
      // a peer-reflexive remote candidate, priority from the check.
      let remote = this.#list.remote(from);
      if (!remote) {
        remote = this.#list.learnPrflx(from, check.priority);
        if (!remote) return;
        this.stats.prflxLearned++;
      }
      pair = this.#pair(base, remote);
      if (!pair) return;
    }
    pair.heard = true;
    if (check.useCandidate && this.role === 'controlled' && !this.#selected) {
      // RFC 8445 §7.3.1.5: select once OUR check on this pair has succeeded too. Selecting on the
      // USE-CANDIDATE alone would let an on-path third party replay a sniffed nomination from its
      // own address and be selected; it cannot answer our check (the answer needs the remote
      // pwd). Datagrams that beat our selection wait in the connector's early buffer.
      pair.nominated = true;
      if (pair.state === 'succeeded') return this.#select(pair);
    }
    if (!this.#selected && pair.state !== 'succeeded') this.#trigger(pair);
  }

  /**
   * A STUN response: ours if its transaction id is one of our checks. Verified with the remote
   * pwd BEFORE the transaction engine sees it, so a forged answer cannot complete a check.
   * Returns 'mine' (verified, hand it to the engine), 'forged' (drop) or 'other'.
   */
  screenResponse(msg: StunMessage): 'mine' | 'forged' | 'other' {
    if (!this.#inflight.has(txHex(msg.transactionId))) return 'other';
    if (verifyCheckResponse(msg, this.#o.remote)) return 'mine';
    this.stats.responsesRejected++;
    return 'forged';
  }

  // ─── checking ────────────────────────────────────────────────────────────────────────────

  #pair(base: CandidateBase, remote: Candidate): CandidatePair | undefined {
    return this.#list.pair(base, remote, this.role);
  }

  #trigger(pair: CandidatePair): void {
    if (this.#triggered.includes(pair.id)) return;
    if (this.#triggered.length >= PUNCH_LIMITS.maxTriggered) return;
    this.#triggered.push(pair.id);
    if (this.#running && !this.#pacer) this.#tick();
  }

  /** Every Ta: one check — a triggered one first, else the best waiting pair (§6.1.4.2). */
  #tick(): void {
    this.#pacer = undefined;
    if (!this.#running || this.#selected) return;
    let pair: CandidatePair | undefined;
    while (!pair && this.#triggered.length > 0) {
      const p = this.#list.get(this.#triggered.shift()!);
      if (p && p.state !== 'succeeded') pair = p;
    }
    pair ??= this.#list.bestWaiting();
    if (pair) this.#check(pair, this.role === 'controlling' && pair.kind === 'direct');
    const pending = this.#triggered.length > 0 || this.#list.count('waiting') > 0;
    if (pending)
      this.#pacer = this.#o.clock.setTimeout(
        () => this.#tick(),
        this.#o.taMs ?? PUNCH_DEFAULTS.taMs,
      );
  }

  #check(pair: CandidatePair, nominate: boolean): void {
    const tx = pair.base === 'relay' ? this.#o.transactions.relay : this.#o.transactions.socket;
    if (!tx) return;
    if (pair.state === 'waiting' || pair.state === 'failed') pair.state = 'in-progress';
    const bytes = buildCheck({
      local: this.#o.local,
      remote: this.#o.remote,
      priority: candidatePriority('prflx', pair.base === 'relay' ? 0 : 65535),
      role: this.role,
      tieBreaker: this.#o.tieBreaker,
      useCandidate: nominate,
      ...this.#handshakeInit(pair),
    });
    const key = txHex(bytes.subarray(8, 20));
    this.#inflight.set(key, pair.id);
    this.stats.checksSent++;
    // RFC 8445 §7.3.1.4: a triggered check replaces the pair's in-progress one; the old one stops
    // retransmitting but may still be answered.
    const previous = this.#pairTx.get(pair.id);
    if (previous) tx.stopRetransmitting(previous);
    const id = bytes.slice(8, 20);
    this.#pairTx.set(pair.id, id);
    tx.start(pair.remote, bytes, {
      retransmission: this.#o.checkRetransmission ?? PUNCH_DEFAULTS.checkRetransmission,
      signal: this.#abort.signal,
    }).then(
      (res) => {
        this.#inflight.delete(key);
        if (this.#pairTx.get(pair.id) === id) this.#pairTx.delete(pair.id);
        // Verified by screenResponse before the engine matched it: the MI covers the answer.
        const answer = responseHandshake(res.message);
        if (answer && !this.#done) this.#carrier.response(answer);
        this.#onResponse(pair, res.message, res.rttMs, nominate);
      },
      () => {
        this.#inflight.delete(key);
        // A replaced check that ends unanswered does not fail the pair: its successor runs.
        if (this.#pairTx.get(pair.id) !== id) return;
        this.#pairTx.delete(pair.id);
        this.#onCheckFailed(pair, nominate);
      },
    );
  }

  #handshakeInit(pair: CandidatePair): { handshake?: Uint8Array } {
    const h = this.#carrier.initFor(pair.id);
    if (!h) return {};
    // Unanswered within the first RTO (lost, or dropped for its size or attribute): a plain
    // triggered check on the pair, so the punch never depends on the bigger packet.
    // Two RTOs: the carrying check has been retransmitted once by then (RFC 8489 §6.2.1: at
    // RTO and 3·RTO), so a single loss, or a round trip just above one RTO, keeps the init.
    const rto = 2 * (this.#o.checkRetransmission ?? PUNCH_DEFAULTS.checkRetransmission).rtoMs;
    this.#timers.push(
      this.#o.clock.setTimeout(() => {
        if (pair.state === 'in-progress' && !this.#selected) this.#trigger(pair);
      }, rto),
    );
    return { handshake: h };
  }

  #onResponse(pair: CandidatePair, msg: StunMessage, rttMs: number, nominate: boolean): void {
    if (this.#done || this.#selected) return;
    if (msg.cls === StunClass.Error) {
      // RFC 8445 §7.2.5.1: 487 → switch role and check again.
      if (readErrorCode(msg)?.code === 487) {
        this.stats.roleConflicts++;
        this.role = otherRole(this.role);
        this.#nominating = undefined;
        return this.#trigger(pair);
      }
      pair.state = 'failed';
      return this.#maybeNominate();
    }
    pair.state = 'succeeded';
    pair.rttMs = rttMs;
    try {
      pair.mapped = readXorAddress(msg, Attr.XorMappedAddress);
    } catch {
      /* a prflx of ours is informative only */
    }
    if (nominate && this.role === 'controlling') {
      pair.nominated = true;
      return this.#select(pair);
    }
    if (pair.nominated && this.role === 'controlled') return this.#select(pair);
    this.#maybeNominate();
  }

  #onCheckFailed(pair: CandidatePair, nominate: boolean): void {
    if (this.#done || this.#selected) return;
    if (nominate && this.#nominating === pair) this.#nominating = undefined;
    if (pair.state === 'in-progress') pair.state = 'failed';
    this.#maybeNominate();
  }

  /** Controlling: nominate a pair once one qualifies (nomination.ts); fail when none can. */
  #maybeNominate(): void {
    if (!this.#running || this.#selected || this.#nominating || this.role !== 'controlling') return;
    const grace = this.#o.directGraceMs ?? PUNCH_DEFAULTS.directGraceMs;
    const pick = pickNomination(this.#list, this.#o.clock.now() - this.#startedAt >= grace);
    if (!pick) {
      const left = this.#list.count('waiting') + this.#list.count('in-progress');
      if (left === 0 && this.#triggered.length === 0) this.#fail('every candidate pair failed');
      return;
    }
    this.#nominating = pick;
    this.#check(pick, true);
  }

  #select(pair: CandidatePair): void {
    if (this.#selected) return;
    this.#selected = pair;
    this.#stopChecks();
    this.#log.info('punch pair selected', {
      kind: pair.kind,
      base: pair.base,
      remote: endpointKey(pair.remote),
      role: this.role,
      ms: this.#o.clock.now() - this.#startedAt,
    });
    this.#consent.start();
    for (const l of this.#onSelected) l(pair);
  }

  #fail(reason: string): void {
    if (this.#selected || this.#done) return;
    this.#done = true;
    this.#stopChecks();
    for (const l of this.#onFailed) l(reason);
  }

  #stopChecks(): void {
    this.#running = false;
    this.#pacer?.cancel();
    this.#pacer = undefined;
    for (const t of this.#timers) t.cancel();
    this.#timers = [];
    this.#abort.abort();
  }

  #roleConflict(
    msg: StunMessage,
    theirRole: Role,
    theirs: bigint,
    from: Endpoint,
    via: Via,
  ): boolean {
    const outcome = resolveRoleConflict(this.role, this.#o.tieBreaker, theirRole, theirs);
    if (outcome === 'none') return false;
    this.stats.roleConflicts++;
    if (outcome === 'keep') {
      this.#o.send(buildRoleConflict(msg, this.#o.local.pwd), from, via);
      return true;
    }
    this.role = otherRole(this.role);
    this.#nominating = undefined;
    return false;
  }

  /** One verification check toward a new source of the remote at a time (bounds the work a
   *  flood of replays can cause to one transaction). */
  #verifyMove(from: Endpoint): void {
    const pair = this.#selected;
    if (!pair || this.#moveCheck || this.#done) return;
    // Report each new source once: its consent checks keep arriving until the path is re-punched.
    if (this.#movedTo !== undefined && sameEndpoint(this.#movedTo, from)) return;
    const tx = pair.base === 'relay' ? this.#o.transactions.relay : this.#o.transactions.socket;
    if (!tx) return;
    const bytes = buildCheck({
      local: this.#o.local,
      remote: this.#o.remote,
      priority: candidatePriority('prflx', pair.base === 'relay' ? 0 : 65535),
      role: this.role,
      tieBreaker: this.#o.tieBreaker,
    });
    const key = txHex(bytes.subarray(8, 20));
    this.#inflight.set(key, pair.id);
    this.#moveCheck = true;
    const to = { address: from.address, port: from.port };
    tx.start(to, bytes, { retransmission: PUNCH_DEFAULTS.consentRetransmission }).then(
      (res) => {
        this.#inflight.delete(key);
        this.#moveCheck = false;
        if (this.#done || res.message.cls !== StunClass.Success) return;
        this.#movedTo = to;
        for (const l of this.#onRemoteMoved) l(to);
      },
      () => {
        this.#inflight.delete(key);
        this.#moveCheck = false;
      },
    );
  }

  // ─── consent freshness (RFC 7675, consent.ts) ────────────────────────────────────────────

  /** One consent check on the selected pair; an authenticated success refreshes consent. */
  #consentCheck(): void {
    const pair = this.#selected;
    const tx = pair?.base === 'relay' ? this.#o.transactions.relay : this.#o.transactions.socket;
    if (!pair || !tx) return;
    const bytes = buildCheck({
      local: this.#o.local,
      remote: this.#o.remote,
      priority: candidatePriority('prflx', pair.base === 'relay' ? 0 : 65535),
      role: this.role,
      tieBreaker: this.#o.tieBreaker,
    });
    const key = txHex(bytes.subarray(8, 20));
    this.#inflight.set(key, pair.id);
    tx.start(pair.remote, bytes, { retransmission: PUNCH_DEFAULTS.consentRetransmission }).then(
      (res) => {
        this.#inflight.delete(key);
        if (res.message.cls === StunClass.Success) this.#consent.confirm();
      },
      () => this.#inflight.delete(key),
    );
  }

  /** For tests and the path: when the last authenticated consent response came. */
  get lastConsentAt(): number {
    return this.#consent.lastAt;
  }

  /** Whether an authenticated check came from `from` (the connector's early-data buffer). */
  heardFrom(from: Endpoint, via: Via): boolean {
    const base: CandidateBase = via === 'relay' ? 'relay' : 'socket';
    return this.#list.find(base, from)?.heard === true;
  }

  /** Whether `from` is the selected pair's remote (for the path's data filter). */
  isSelectedRemote(from: Endpoint, via: Via): boolean {
    const p = this.#selected;
    if (!p || (via === 'relay') !== (p.base === 'relay')) return false;
    if (sameEndpoint(p.remote, from)) return true;
    // Aggressive nomination (header): the other side may have selected another working pair.
    return p.kind === 'direct' && this.#list.find(p.base, from)?.state === 'succeeded';
  }
}
