/**
 * Connectivity checks (RFC 8445 §6.1.4, §7) for one session with one remote peer: a checklist of
 * pairs (local base × remote candidate), all checked at once, paced every Ta; triggered checks
 * when a check arrives; peer-reflexive candidates from unknown sources; nomination; and, after
 * nomination, consent freshness (RFC 7675) on the selected pair.
 *
 *   pair states (§6.1.2.6):  waiting ──Ta──▶ in-progress ──response──▶ succeeded
 *                                                  └──── no answer (13.4 s) ─▶ failed
 *
 * Nomination (§8.1.1; regular, plus aggressive for direct pairs) is described in nomination.ts.
 * The controlling side selects a pair when its nominating check is answered; the controlled side
 * when it got USE-CANDIDATE on a pair whose own check succeeded (§7.3.1.5). A selected relayed
 * pair gives way to a direct pair nominated later, on both sides (pair-upgrade.ts).
 *
 * The parts live beside this file: the pair table and its order (checklist.ts), pacing every Ta
 * and the triggered-check queue (check-pacer.ts), our check transactions and the screening of
 * their answers (check-transactions.ts), what an answer to our check means (check-outcome.ts),
 * which pair to nominate (nomination.ts), role conflicts (role-conflict.ts), the session
 * handshake carried in checks (handshake-in-check.ts), a remote that moved after selection
 * (remote-move.ts), the responder to incoming checks (check-responder.ts) and consent freshness
 * (consent.ts). This file is the agent that runs them: lifecycle, events, acting on the outcome
 * of our checks, selection and failure.
 *
 * Checks and responses whose MESSAGE-INTEGRITY does not verify with the session's pwd are dropped
 * before they touch any state, so a third party can neither open a pair, nor learn a prflx
 * candidate into our list, nor complete or fail a check.
 */
import type { Endpoint } from '../net/udp.js';
import { endpointKey } from '../net/udp.js';
import type { StunMessage } from '../stun/message.js';
import type { StunTransactions } from '../stun/transaction.js';
import type { TimerHandle } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import type { Candidate, CandidateBase } from './candidates.js';
import type { IceCredentials, Role } from './check-message.js';
import { responseHandshake } from './check-message.js';
import { CheckEvents } from './check-events.js';
import { checkOutcome } from './check-outcome.js';
import { CheckPacer } from './check-pacer.js';
import { CheckResponder } from './check-responder.js';
import { CheckTransactions } from './check-transactions.js';
import { Checklist } from './checklist.js';
import { PUNCH_DEFAULTS } from './constants.js';
import type { Via } from './demux.js';
import type { CandidatePair, CheckAgentOptions, CheckStats } from './check-types.js';
import { newCheckStats } from './check-types.js';
import type { ConsentFreshness } from './consent.js';
import { selectedPairConsent } from './consent.js';
import { HandshakeCarrier } from './handshake-in-check.js';
import { pickNomination } from './nomination.js';
import { PairUpgrade, upgrades } from './pair-upgrade.js';
import { RemoteMoveCheck } from './remote-move.js';
import { otherRole } from './role-conflict.js';

export type {
  CandidatePair,
  CheckAgentOptions,
  CheckHandshake,
  CheckStats,
  PairState,
  PathKind,
} from './check-types.js';
export { newCheckStats, pairPriority, txHex } from './check-types.js';

export class CheckAgent {
  readonly stats: CheckStats = newCheckStats();
  role: Role;
  readonly #o: CheckAgentOptions;
  readonly #log: Logger;
  readonly #list: Checklist;
  readonly #pacer: CheckPacer;
  readonly #out: CheckTransactions;
  readonly #carrier: HandshakeCarrier;
  readonly #move: RemoteMoveCheck;
  readonly #responder: CheckResponder;
  readonly #upgrade: PairUpgrade;
  #timers: TimerHandle[] = [];
  #startedAt = 0;
  #running = false;
  #nominating: CandidatePair | undefined;
  #selected: CandidatePair | undefined;
  #done = false;
  readonly #consent: ConsentFreshness;
  readonly #on = new CheckEvents();

  constructor(options: CheckAgentOptions) {
    this.#o = options;
    this.role = options.role;
    this.#log = options.logger ?? silentLogger;
    this.#list = new Checklist(
      (base) =>
        base === 'socket' ? options.localPriority.socket : (options.localPriority.relay ?? 0),
      () => options.relayAddresses?.() ?? [],
    );
    this.#pacer = new CheckPacer({
      clock: options.clock,
      taMs: options.taMs ?? PUNCH_DEFAULTS.taMs,
      list: this.#list,
      active: () => this.#running && !this.#selected,
      check: (pair) => this.#check(pair, this.role === 'controlling' && pair.kind === 'direct'),
    });
    this.#out = new CheckTransactions(options, this.stats);
    this.#carrier = new HandshakeCarrier({
      handshake: options.handshake,
      log: this.#log,
      rtoMs: (options.checkRetransmission ?? PUNCH_DEFAULTS.checkRetransmission).rtoMs,
      schedule: (fn, ms) => this.#timers.push(options.clock.setTimeout(fn, ms)),
      fallback: (pair) => {
        if (pair.state === 'in-progress' && !this.#selected) this.#pacer.trigger(pair);
      },
    });
    this.#move = new RemoteMoveCheck(
      this.#out,
      () => this.#done,
      (to) => this.#on.remoteMoved.emit(to),
    );
    this.#upgrade = new PairUpgrade(
      this.#out,
      () => this.role,
      () => this.#selected,
      () => this.#done,
      (pair) => this.#switchTo(pair),
    );
    this.#responder = new CheckResponder({
      o: options,
      stats: this.stats,
      list: this.#list,
      carrier: this.#carrier,
      role: () => this.role,
      switchRole: () => this.#switchRole(),
      selected: () => this.#selected,
      done: () => this.#done,
      moved: (from) => this.#move.verify(this.#selected, from, this.role),
      select: (pair) => this.#select(pair),
      nominatedLate: (pair) => this.#upgrade.nominated(pair),
      trigger: (pair) => this.#pacer.trigger(pair),
    });
    this.#consent = selectedPairConsent({
      options,
      out: this.#out,
      selected: () => this.#selected,
      done: () => this.#done,
      role: () => this.role,
      onLost: (reason) => {
        this.#done = true;
        this.#on.dead.emit(reason);
      },
      onMissed: () => this.#on.consentMissed.emit(),
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

  onSelected(cb: (v: CandidatePair) => void): () => void {
    return this.#on.selected.add(cb);
  }

  /** The selection moved from a relayed pair to a direct one (pair-upgrade.ts). */
  onSwitched(cb: (v: CandidatePair) => void): () => void {
    return this.#on.switched.add(cb);
  }

  /** No pair could be selected (reason in the argument). */
  onFailed(cb: (v: string) => void): () => void {
    return this.#on.failed.add(cb);
  }

  /** Consent lost on the selected pair (RFC 7675 §5.1: no answer for 30 s). */
  onDead(cb: (v: string) => void): () => void {
    return this.#on.dead.add(cb);
  }

  /** The remote moved (NAT rebinding): an authenticated check from a new source after selection,
   *  and our own check to it answered (remote-move.ts: a replay from elsewhere moves nothing). */
  onRemoteMoved(cb: (v: Endpoint) => void): () => void {
    return this.#on.remoteMoved.add(cb);
  }

  /** A consent check went unanswered (its retransmissions, ≤ 4.5 s): the path may be dying. */
  onConsentMissed(cb: () => void): () => void {
    return this.#on.consentMissed.add(cb);
  }

  /** Add a remote candidate (from the `candidates` frame); bounded (PUNCH_LIMITS). */
  addRemote(c: Candidate): void {
    if (!this.#list.addRemote(c)) return;
    // RFC 8445 §6.1.2.4: a relayed remote is reached from the socket; relay→relay pairs are not
    // formed (serve's relay refuses its own addresses as peers, RFC 8656 §21.1.5).
    this.#pair('socket', c);
    if (this.#o.transactions.relay && c.type !== 'relay') this.#pair('relay', c);
    this.#pacer.kick(); // trickled after start: check the new pairs too
  }

  /**
   * Our relayed candidate arrived after the agent was made (trickled, candidates.ts): pairs on
   * the relay base for every remote candidate that is not relayed itself.
   */
  addRelayBase(tx: StunTransactions, relayPriority: number): void {
    if (this.#o.transactions.relay || this.#done) return;
    this.#o.transactions.relay = tx;
    this.#o.localPriority.relay = relayPriority;
    this.#list.relayKnown(); // our relay's IPs now mark peer-reflexive remotes at them
    for (const c of this.#list.remotes()) if (c.type !== 'relay') this.#pair('relay', c);
    this.#pacer.kick();
  }

  /** Begin checking (at the coordinated start time). */
  start(): void {
    if (this.#running || this.#done) return;
    this.#running = true;
    this.#startedAt = this.#o.clock.now();
    this.#pacer.kick();
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
    this.#on.clear();
  }

  // ─── incoming ────────────────────────────────────────────────────────────────────────────

  /** A Binding request addressed to our ufrag (RFC 8445 §7.3; check-responder.ts). */
  handleRequest(msg: StunMessage, from: Endpoint, via: Via): void {
    this.#responder.handle(msg, from, via);
  }

  /**
   * A STUN response: ours if its transaction id is one of our checks. Verified with the remote
   * pwd BEFORE the transaction engine sees it, so a forged answer cannot complete a check.
   * Returns 'mine' (verified, hand it to the engine), 'forged' (drop) or 'other'.
   */
  screenResponse(msg: StunMessage): 'mine' | 'forged' | 'other' {
    return this.#out.screen(msg);
  }

  // ─── checking ────────────────────────────────────────────────────────────────────────────

  #pair(base: CandidateBase, remote: Candidate): CandidatePair | undefined {
    return this.#list.pair(base, remote, this.role);
  }

  #check(pair: CandidatePair, nominate: boolean): void {
    const tx = this.#out.engine(pair.base);
    if (!tx) return;
    if (pair.state === 'waiting' || pair.state === 'failed') pair.state = 'in-progress';
    const bytes = this.#out.build(pair, {
      role: this.role,
      useCandidate: nominate,
      ...this.#carrier.initFor(pair),
    });
    this.#out.check(
      tx,
      pair,
      bytes,
      (res) => {
        // Verified by screenResponse before the engine matched it: the MI covers the answer.
        const answer = responseHandshake(res.message);
        if (answer && !this.#done) this.#carrier.response(answer);
        this.#onResponse(pair, res.message, res.rttMs, nominate);
      },
      () => this.#onCheckFailed(pair, nominate),
      nominate && pair.kind === 'direct',
    );
  }

  /** An answer to our check on `pair` (check-outcome.ts reads it). */
  #onResponse(pair: CandidatePair, msg: StunMessage, rttMs: number, nominate: boolean): void {
    // After a relayed pair's selection only our aggressive nominations run (pair-upgrade.ts).
    if (this.#done || (this.#selected && !(nominate && upgrades(this.#selected, pair)))) return;
    const selected = this.#selected !== undefined;
    switch (checkOutcome(pair, msg, rttMs, { nominate, role: this.role, selected })) {
      case 'switch-role':
        this.stats.roleConflicts++;
        this.#switchRole();
        return this.#pacer.trigger(pair);
      case 'nominated':
        return this.#selected ? this.#switchTo(pair) : this.#select(pair);
      case 'select':
        return this.#select(pair);
      case 'failed': // refused: as unanswered, so a refused nomination frees the next one
        return this.#onCheckFailed(pair, nominate);
      case 'succeeded':
        return this.#maybeNominate();
    }
  }

  /** Our check on `pair` got no answer, or an error but 487 (§7.2.5.2.4). */
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
    const over = this.#o.clock.now() - this.#startedAt >= grace;
    const pick = pickNomination(this.#list, over, this.#o.silentDirect);
    if (!pick) {
      const left = this.#list.count('waiting') + this.#list.count('in-progress');
      if (left === 0 && this.#pacer.queued === 0) this.#fail('every candidate pair failed');
      return;
    }
    this.#nominating = pick;
    this.#check(pick, true);
  }

  #select(pair: CandidatePair): void {
    if (this.#selected) return;
    this.#selected = pair;
    // Controlling on a relayed pair: its aggressive nominations of direct pairs go on.
    this.#stopChecks(pair.kind !== 'relay' || this.role !== 'controlling');
    this.#log.info('punch pair selected', {
      kind: pair.kind,
      base: pair.base,
      remote: endpointKey(pair.remote),
      role: this.role,
      ms: this.#o.clock.now() - this.#startedAt,
    });
    this.#consent.start();
    this.#on.selected.emit(pair);
    if (pair.kind === 'relay' && !this.#done) this.#upgrade.selectedRelay(this.#list.values());
  }

  /** A direct pair nominated after the relayed one we selected (pair-upgrade.ts). */
  #switchTo(pair: CandidatePair): void {
    const from = this.#selected;
    if (this.#done || !upgrades(from, pair)) return;
    this.#selected = pair;
    this.#out.abort({ nominations: true });
    this.#consent.confirm(); // the check that validated the pair was answered just now
    const ms = this.#o.clock.now() - this.#startedAt;
    const [was, remote] = [endpointKey(from!.remote), endpointKey(pair.remote)];
    this.#log.info('punch pair switched', { from: was, remote, role: this.role, ms });
    this.#on.switched.emit(pair);
  }

  #fail(reason: string): void {
    if (this.#selected || this.#done) return;
    this.#done = true;
    this.#stopChecks();
    this.#on.failed.emit(reason);
  }

  #stopChecks(nominations = true): void {
    this.#running = false;
    this.#pacer.stop();
    for (const t of this.#timers) t.cancel();
    this.#timers = [];
    this.#out.abort({ nominations });
  }

  #switchRole(): void {
    this.role = otherRole(this.role);
    this.#nominating = undefined;
  }

  /** Whether an authenticated check came from `from` (the connector's early-data buffer). */
  heardFrom(from: Endpoint, via: Via): boolean {
    return this.#list.find(via, from)?.heard === true;
  }

  /** Whether a session datagram from `from` belongs to the selected path (its data filter:
   *  the selected remote, or a pair of this session the remote was heard on; checklist.ts). */
  isSelectedRemote(from: Endpoint, via: Via): boolean {
    const p = this.#selected;
    return p !== undefined && this.#list.validFor(p, from, via);
  }
}
