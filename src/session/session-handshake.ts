/**
 * The handshake half of a SecureSession (secure-session.ts): Noise IK as initiator (inits,
 * retransmitted with backoff, each with a fresh ephemeral and a newer timestamp; earlier inits of
 * a round stay answerable) and as responder (identity checks, replay refusal by timestamp, a
 * rate bound, simultaneous-open tie-break, answers kept as candidates until confirmed), rekeying,
 * and the 0-RTT data of an init or answer carried in a connectivity check.
 */
import type { TimerHandle } from '../util/clock.js';
import { defaultAead, type Aead } from './aead.js';
import { decodeRecords, encodeRecords } from './early-data.js';
import { SessionError, SessionErrorCode } from './errors.js';
import { x25519KeyPairFromIdentity, type X25519KeyPair } from './identity-keys.js';
import { readInitPayload, writeInitPayload } from './init-payload.js';
import type { Keypair } from './key-ring.js';
import { HandshakeState } from './noise.js';
import { reasonOf, type HandleResult, type SecureSessionOptions } from './session-types.js';
import { SessionTransport } from './session-transport.js';
import { encodeInit, encodeResp, SESSION_VERSION } from './wire.js';

const NO_RECORDS = { bytes: Buffer.alloc(0), carried: [] as Uint8Array[] };

const PROLOGUE = Buffer.from(`natpush session\n${String.fromCharCode(SESSION_VERSION)}`, 'latin1');
/**
 * Handshake-inits processed per second per session. A genuine peer sends one per retransmission
 * (≥ 1 s apart) plus a rekey or a simultaneous open; anything beyond is junk or a flood (WireGuard
 * answers load with cookies, whitepaper §5.4.7; this is the cheap bound).
 */
const MAX_INITS_PER_SECOND = 10;

interface PendingHandshake {
  hs: HandshakeState;
  localIndex: number;
  roundStartedAt: number;
  attempt: number;
  sentAt: number;
  timer: TimerHandle;
  /**
   * Earlier inits of this round, still answerable: a late answer to one of them completes the
   * handshake instead of being dropped. Bound: EARLIER_INITS_KEPT.
   */
  earlier: { hs: HandshakeState; localIndex: number; earlyCarried: Uint8Array[] }[];
  /** Queued payloads that rode in this init as 0-RTT data (dropped from the queue on answer). */
  earlyCarried: Uint8Array[];
}

/** Earlier inits of a round kept answerable (each holds one ephemeral key and a few hashes). */
const EARLIER_INITS_KEPT = 3;
/**
 * The tie-break winner re-sends its init when the loser's arrives and its own went out at least
 * this long ago: the loser's init proves the path works, and waiting for a backed-off timer
 * (up to 8 s) would stall both sides. Also the floor between two such re-sends.
 */
const TIE_BREAK_RESEND_MS = 250;

export abstract class SessionHandshake extends SessionTransport {
  protected readonly staticKey: X25519KeyPair;
  /** The AEAD every handshake's keys use (aead.ts). */
  protected readonly aead: Aead;
  protected remoteEd: string | undefined;
  protected remoteStatic: Uint8Array | undefined;
  protected pending: PendingHandshake | undefined;
  protected lastInitSent = 0;
  /** The server init is held back for the punch's checks (holdHandshake). */
  protected hold: TimerHandle | undefined;
  /** The init riding in the checks now (initForCheck): same bytes on every check and pair. */
  protected checkInit: { localIndex: number; bytes: Uint8Array } | undefined;
  /** The last init answered in a check and our answer: a copy (another pair, a retransmitted
   *  check) gets the same answer without touching state. One entry. */
  protected checkAnswer: { init: Uint8Array; resp: Uint8Array } | undefined;
  /** Inside answerInCheck: the answer is returned, not transmitted. */
  protected capturing = false;
  protected captured: Uint8Array | undefined;
  /** Delivering 0-RTT data: payloads the app sends back are queued for the answer. */
  protected answering = false;
  protected lastInitSeen = 0;
  protected initWindowStart = 0;
  protected initsInWindow = 0;

  protected ensureHandshake(): void {
    if (this.pending || !this.remoteStatic || this.hold || this.answering) return;
    const newest = this.keys.newestCandidate;
    if (newest && this.clock.now() - newest.createdAt < this.t.confirmTimeoutMs) {
      // We answered a handshake; its confirmation is on the way. Retry ourselves if it is lost.
      this.armConfirmTimer();
      return;
    }
    this.startHandshake();
  }

  protected startHandshake(): void {
    this.hold?.cancel();
    this.hold = undefined;
    this.pending?.timer.cancel();
    this.pending = undefined;
    this.sendInit(this.clock.now(), 0);
  }

  protected sendInit(roundStartedAt: number, attempt: number, forCheck = false): void {
    const hs = new HandshakeState({
      pattern: 'IK',
      initiator: true,
      prologue: PROLOGUE,
      s: this.staticKey,
      rs: this.remoteStatic!,
      aead: this.aead,
    });
    // Strictly increasing per initiator, so the responder can refuse replays (WireGuard uses
    // TAI64N for the same purpose).
    const ts = Math.max(Math.floor(this.clock.now()), this.lastInitSent + 1);
    this.lastInitSent = ts;
    // In a check: the queued payloads that fit ride along as 0-RTT data. They stay queued until
    // an answer to this init proves the responder read them (it delivers them before it
    // answers); if none comes, they go on the keys of a later handshake.
    const early = forCheck ? encodeRecords(this.queue) : NO_RECORDS;
    const payload = writeInitPayload(this.identity.publicKey, ts, early.bytes);
    const localIndex = this.newIndex();
    const datagram = encodeInit(localIndex, hs.writeMessage(payload));
    const delay = Math.min(
      this.t.handshakeRetransmitMs * 2 ** attempt,
      this.t.maxHandshakeRetransmitMs,
    );
    const timer = this.clock.setTimeout(() => this.onHandshakeTimer(), delay);
    const prev = this.pending;
    const earlier =
      prev && prev.roundStartedAt === roundStartedAt
        ? [
            ...prev.earlier,
            { hs: prev.hs, localIndex: prev.localIndex, earlyCarried: prev.earlyCarried },
          ].slice(-EARLIER_INITS_KEPT)
        : [];
    prev?.timer.cancel();
    this.pending = {
      hs,
      localIndex,
      roundStartedAt,
      attempt,
      sentAt: this.clock.now(),
      timer,
      earlier,
      earlyCarried: early.carried,
    };
    this.stats.handshakesInitiated++;
    if (forCheck) {
      this.checkInit = { localIndex, bytes: datagram };
      return;
    }
    this.checkInit = undefined; // a retransmission goes over the path: checks stop carrying one
    this.transmit(datagram);
  }

  protected onHandshakeTimer(): void {
    const p = this.pending;
    if (!p || this.isClosed) return;
    if (this.clock.now() - p.roundStartedAt >= this.t.handshakeTimeoutMs) {
      this.pending = undefined;
      this.stats.queueDropped += this.queue.length;
      this.queue = [];
      this.log.debug('session handshake timed out', { peer: this.remotePeerId });
      this.emitError(
        new SessionError(SessionErrorCode.HANDSHAKE_TIMEOUT, 'no handshake answer from the peer'),
      );
      return;
    }
    // A fresh init (new ephemeral, newer timestamp): resending the same bytes would be refused
    // as a replay by a responder that already saw them but whose answer was lost.
    this.sendInit(p.roundStartedAt, p.attempt + 1);
  }

  protected handleResp(
    senderIndex: number,
    receiverIndex: number,
    noise: Uint8Array,
  ): HandleResult {
    const p = this.pending;
    const attempt =
      p?.localIndex === receiverIndex ? p : p?.earlier.find((e) => e.localIndex === receiverIndex);
    if (!p || !attempt) return this.drop('unknown-index');
    let early: Uint8Array[];
    try {
      early = decodeRecords(attempt.hs.readMessage(noise));
    } catch (e) {
      return this.drop(reasonOf(e));
    }
    p.timer.cancel();
    this.pending = undefined;
    this.checkInit = undefined;
    const kp = this.keypairFrom(attempt.hs, attempt.localIndex, senderIndex, true);
    // Unconfirmed answers of ours stay (the peer may be sending on one); being older than these
    // keys, a message on one is accepted without switching back (see handleTransport).
    this.install(kp);
    // The responder answered the init that carried these: it has delivered them already.
    this.forgetQueued(attempt.earlyCarried);
    // Confirm at once (the responder sends nothing on these keys until it hears from us).
    if (this.queue.length === 0) this.sendOn(kp, new Uint8Array(0));
    this.flushQueue();
    this.emitEstablished();
    // The responder's 0-RTT answer (e.g. the pong of a ping that rode in our init).
    for (const m of early) for (const cb of this.messageListeners) cb(m);
    return { ok: true, kind: 'handshake-resp' };
  }

  protected handleInit(senderIndex: number, noise: Uint8Array): HandleResult {
    // Each init costs three X25519 operations; bound what a flood of junk inits can burn.
    const now = this.clock.now();
    if (now - this.initWindowStart >= 1_000) {
      this.initWindowStart = now;
      this.initsInWindow = 0;
    }
    if (++this.initsInWindow > MAX_INITS_PER_SECOND) return this.drop('rate-limited');
    const hs = new HandshakeState({
      pattern: 'IK',
      initiator: false,
      prologue: PROLOGUE,
      s: this.staticKey,
      aead: this.aead,
    });
    let payload: Buffer;
    try {
      payload = hs.readMessage(noise);
    } catch (e) {
      return this.drop(reasonOf(e));
    }
    const init = readInitPayload(payload, this.remotePeerId, hs.remoteStatic!);
    if (!init.ok) return this.drop(init.reason);
    const { ts, early, edB64, converted } = init;
    if (ts <= this.lastInitSeen) return this.drop('stale-handshake');
    // 0-RTT data only from inside a check (answerInCheck): the check passed MESSAGE-INTEGRITY
    // under this process's one-time ICE password, a per-boot epoch, so an init recorded before
    // a restart (which forgot the timestamp above) cannot deliver its data again. A genuine
    // initiator sends an init with 0-RTT data only in checks, so a bare one is a replay or a
    // forgery: it is dropped whole, before any state changes. Answering it while ignoring its
    // records would make the initiator forget payloads the responder never delivered.
    if (early.length > 0 && !this.capturing) return this.drop('early-data-outside-check');
    if (this.pending && this.identity.peerId < this.remotePeerId) {
      // Simultaneous open and our handshake wins; the peer will answer ours. If ours went out a
      // while ago it was probably lost: send another now (earlier ones stay answerable).
      const p = this.pending;
      if (this.clock.now() - p.sentAt >= TIE_BREAK_RESEND_MS)
        this.sendInit(p.roundStartedAt, p.attempt);
      return this.drop('lost-tie-break');
    }
    this.lastInitSeen = ts;
    if (!this.remoteEd) {
      this.remoteEd = edB64;
      this.remoteStatic = converted;
    }
    if (this.pending) {
      // Simultaneous open and theirs wins: abandon ours, answer theirs.
      this.pending.timer.cancel();
      this.pending = undefined;
    }
    // 0-RTT data (an init carried in a check): authenticated by the init itself, delivered once
    // (the timestamp above refuses a replay). What the app sends back is queued — no keys are
    // confirmed yet — and, in a check, rides in our answer.
    if (early.length > 0) {
      this.answering = true;
      try {
        for (const m of early) for (const cb of this.messageListeners) cb(m);
      } finally {
        this.answering = false;
      }
    }
    const localIndex = this.newIndex();
    const reply = this.capturing ? encodeRecords(this.queue) : NO_RECORDS;
    const resp = hs.writeMessage(reply.bytes);
    const candidate = this.keypairFrom(hs, localIndex, senderIndex, false);
    candidate.earlyCarried = reply.carried;
    this.keys.addCandidate(candidate);
    const answer = encodeResp(localIndex, senderIndex, resp);
    this.stats.handshakesAnswered++;
    if (this.capturing) this.captured = answer;
    else this.transmit(answer);
    // Even with nothing queued: a responder whose confirmation is lost would otherwise stay
    // without keys until the initiator happens to send data, and its link never carries.
    this.armConfirmTimer();
    return { ok: true, kind: 'handshake-init' };
  }

  protected armConfirmTimer(): void {
    if (this.confirmTimer) return;
    this.confirmTimer = this.clock.setTimeout(() => {
      this.confirmTimer = undefined;
      if (this.isClosed || this.usable() || this.pending || !this.remoteStatic) return;
      this.startHandshake();
    }, this.t.confirmTimeoutMs);
  }

  protected maybeRekey(kp: Keypair, now = this.clock.now()): void {
    if (this.pending) return;
    const age = now - kp.createdAt;
    const due = kp.weInitiated
      ? this.t.rekeyAfterMs
      : this.t.rekeyAfterMs + this.t.responderRekeyDelayMs;
    if (age >= due || kp.sendCounter >= this.t.rekeyAfterMessages) {
      if (!this.remoteStatic) return;
      this.log.debug('session rekey', { peer: this.remotePeerId, age, sent: kp.sendCounter });
      this.startHandshake();
    }
  }

  constructor(o: SecureSessionOptions) {
    super(o);
    this.staticKey = x25519KeyPairFromIdentity(o.identity);
    this.aead = o.aead ?? defaultAead;
  }
}
