/**
 * SecureSession: an end-to-end encrypted, mutually authenticated datagram session between two
 * natpush peers, Noise_IK_25519_ChaChaPoly_SHA256 bound to their Ed25519 identities. Pure: the
 * caller feeds datagrams to `handle()` and supplies `send(datagram)`; which path carries them
 * (server `p2p` frame, TURN relay, direct UDP) is invisible here, and `setSend()` swaps it at any
 * time without losing keys or counters. Wire layout: wire.ts.
 *
 * Design after WireGuard (whitepaper §5.4, §6):
 * - Identity binding. The initiator knows the responder's Ed25519 key (its peer id's, via the
 *   server's `key-request`; the id is a hash of the key so the server cannot substitute one) and
 *   uses its X25519 conversion as the IK pre-message. The initiator's payload carries its
 *   Ed25519 key; the responder checks that it hashes to the expected peer id and converts to the
 *   static key Noise authenticated, plus a timestamp newer than the last one accepted from that
 *   peer (a replayed handshake-init is ignored).
 * - Key confirmation. The responder does not send on new keys until a transport message arrives
 *   under them (the initiator sends one at once, empty if it has nothing), so a replayed or forged
 *   init can never make it switch to keys nobody else holds.
 * - Explicit counters + replay window (replay-window.ts): datagrams are lost and reordered.
 * - Three keypairs: current (send + receive), previous (receive only, for stragglers after a
 *   rekey), next (responder's, awaiting confirmation).
 * - Rekey with a fresh handshake (new ephemerals → forward secrecy) after a time or message count.
 * - Simultaneous open: both sides initiate; the handshake of the peer with the lower peer id wins,
 *   the other side abandons its own and answers.
 * - Handshake in the first connectivity checks (`holdHandshake`, `initForCheck`,
 *   `answerInCheck`): the init rides in the punch's first STUN checks with queued payloads as
 *   0-RTT data (IK's first payload is encrypted to the responder's static key and authenticated
 *   by the initiator's, Noise §7.7), and the answer rides in the check's success response with
 *   the responder's queued payloads (forward-secret: after ee, se). So the first direct round trip
 *   carries the handshake and a ping's round trip. Replays: 0-RTT data is accepted only in an init
 *   whose timestamp is newer than the last one accepted (as every init); a responder that
 *   restarted forgets that, so the channel's dedupe per (sender, id) is what keeps a replayed
 *   notification from being delivered twice then (WireGuard has no 0-RTT data and the same limit).
 */
import { randomBytes } from 'node:crypto';
import { peerIdFromPublicKey, type Identity } from '../signaling/identity.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { SESSION_DEFAULTS, type SessionTimers } from './constants.js';
import { decodeRecords, encodeRecords } from './early-data.js';
import { SessionError, SessionErrorCode } from './errors.js';
import {
  x25519KeyPairFromIdentity,
  x25519PublicFromEd25519,
  type X25519KeyPair,
} from './identity-keys.js';
import { readInitPayload, writeInitPayload } from './init-payload.js';
import { KeyRing, newKeypair, type Keypair } from './key-ring.js';
import { HandshakeState } from './noise.js';
import {
  reasonOf,
  type DropReason,
  type HandleResult,
  type SecureSessionOptions,
  type SessionState,
  type SessionStats,
} from './session-types.js';
import {
  encodeInit,
  encodeResp,
  encodeTransportHeader,
  MAX_DATAGRAM_BYTES,
  MessageKind,
  parseMessage,
  SESSION_VERSION,
  TRANSPORT_OVERHEAD,
  type ParsedMessage,
} from './wire.js';

export { MAX_EARLY_DATA_BYTES } from './early-data.js';
export type {
  DropReason,
  HandleResult,
  SecureSessionOptions,
  SessionState,
  SessionStats,
} from './session-types.js';

const NO_RECORDS = { bytes: Buffer.alloc(0), carried: [] as Uint8Array[] };

const PROLOGUE = Buffer.from(`natpush session\n${String.fromCharCode(SESSION_VERSION)}`, 'latin1');
/** Largest payload `send` takes: one datagram. The ReliableChannel fragments to its MTU. */
export const MAX_SESSION_PAYLOAD = MAX_DATAGRAM_BYTES - TRANSPORT_OVERHEAD;

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

export class SecureSession {
  readonly remotePeerId: string;
  readonly #identity: Identity;
  readonly #static: X25519KeyPair;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #t: SessionTimers;
  #send: (datagram: Uint8Array) => void;
  #remoteEd: string | undefined;
  #remoteStatic: Uint8Array | undefined;

  /** Transport keypairs: current, previous, unconfirmed answers (key-ring.ts). */
  readonly #keys = new KeyRing();
  #pending: PendingHandshake | undefined;
  #confirmTimer: TimerHandle | undefined;
  #queue: Uint8Array[] = [];
  #lastInitSent = 0;
  /** The server init is held back for the punch's checks (holdHandshake). */
  #hold: TimerHandle | undefined;
  /** The init riding in the checks now (initForCheck): same bytes on every check and pair. */
  #checkInit: { localIndex: number; bytes: Uint8Array } | undefined;
  /** The last init answered in a check and our answer: a copy (another pair, a retransmitted
   *  check) gets the same answer without touching state. One entry. */
  #checkAnswer: { init: Uint8Array; resp: Uint8Array } | undefined;
  /** Inside answerInCheck: the answer is returned, not transmitted. */
  #capturing = false;
  #captured: Uint8Array | undefined;
  /** Delivering 0-RTT data: payloads the app sends back are queued for the answer. */
  #answering = false;
  #lastInitSeen = 0;
  #initWindowStart = 0;
  #initsInWindow = 0;
  #closed = false;

  readonly #onMessage = new Set<(payload: Uint8Array) => void>();
  readonly #onEstablished = new Set<() => void>();
  readonly #onError = new Set<(err: SessionError) => void>();

  readonly stats: SessionStats = {
    handshakesInitiated: 0,
    handshakesCompleted: 0,
    datagramsSent: 0,
    datagramsReceived: 0,
    queueDropped: 0,
    dropped: {},
  };

  constructor(o: SecureSessionOptions) {
    if (o.remotePeerId === o.identity.peerId)
      throw new TypeError('a session needs two different peers');
    this.remotePeerId = o.remotePeerId;
    this.#identity = o.identity;
    this.#static = x25519KeyPairFromIdentity(o.identity);
    this.#clock = o.clock;
    this.#log = o.logger ?? silentLogger;
    this.#t = { ...SESSION_DEFAULTS, ...o.timers };
    this.#send = o.send;
    if (o.remotePublicKey) this.setRemotePublicKey(o.remotePublicKey);
  }

  // ---- public API -------------------------------------------------------------------------------

  get state(): SessionState {
    if (this.#closed) return 'closed';
    if (this.#usable()) return 'established';
    return this.#pending || this.#keys.candidates.length > 0 ? 'handshaking' : 'idle';
  }

  get established(): boolean {
    return this.state === 'established';
  }

  /** The remote's Ed25519 key (base64url), once given or learned from its handshake. */
  get remotePublicKey(): string | undefined {
    return this.#remoteEd;
  }

  /** Swap the path datagrams go out on. Keys, counters and queued payloads are kept. */
  setSend(send: (datagram: Uint8Array) => void): void {
    this.#send = send;
  }

  /**
   * Give the remote's Ed25519 key (from `key-request`). Must hash to `remotePeerId` — the server
   * that answered cannot substitute a key (CONTRACTS §1) — else TypeError (the caller checks first).
   */
  setRemotePublicKey(ed25519PublicB64u: string): void {
    if (peerIdFromPublicKey(ed25519PublicB64u) !== this.remotePeerId)
      throw new TypeError('remote public key does not belong to remotePeerId');
    this.#remoteStatic = x25519PublicFromEd25519(Buffer.from(ed25519PublicB64u, 'base64url'));
    this.#remoteEd = ed25519PublicB64u;
  }

  /** Start a handshake unless keys are usable or one is under way. Needs the remote's key. */
  connect(): void {
    this.#assertOpen();
    if (!this.#remoteStatic) throw new TypeError('connect() needs the remote public key');
    if (this.#usable() || this.#pending || this.#hold) return;
    this.#startHandshake();
  }

  /**
   * Hold the handshake back for up to `maxMs` (a punch is about to send its first checks, which
   * carry the init: `initForCheck`). Payloads sent meanwhile are queued and become 0-RTT data.
   * When the hold ends without a check having taken the init (`releaseHold`, or `maxMs`), the
   * handshake starts over the current path as usual. No-op with keys usable or a handshake out.
   */
  holdHandshake(maxMs: number): void {
    if (this.#closed || this.#hold || this.#pending || this.#usable()) return;
    this.#hold = this.#clock.setTimeout(() => this.releaseHold(), maxMs);
  }

  /** End a hold; start the handshake now unless a check took it or keys are usable. */
  releaseHold(): void {
    if (!this.#hold) return;
    this.#hold.cancel();
    this.#hold = undefined;
    if (this.#closed || this.#usable() || this.#pending || !this.#remoteStatic) return;
    this.#startHandshake();
  }

  /**
   * The init for a connectivity check, while the handshake is held for one (or the one already
   * riding the checks): the same bytes for every check until it is answered. undefined when
   * there is nothing to carry. The init's retransmission timer stays armed: if no answer comes
   * (lost, or the punch fails), the next init goes over the current path (the old flow).
   */
  initForCheck(): Uint8Array | undefined {
    if (this.#closed || this.#usable()) return undefined;
    const ci = this.#checkInit;
    if (ci && this.#pending?.localIndex === ci.localIndex) return ci.bytes;
    if (!this.#hold || this.#pending || !this.#remoteStatic) return undefined;
    this.#hold.cancel();
    this.#hold = undefined;
    this.#sendInit(this.#clock.now(), 0, true);
    return this.#checkInit?.bytes;
  }

  /**
   * The init that rode in the checks got no answer but a path is up now (the checks that
   * selected it went without, or the answer was lost): send a fresh one on the current path at
   * once rather than at the retransmission timer. No-op otherwise.
   */
  retryCheckInit(): void {
    const p = this.#pending;
    if (this.#closed || !p || this.#checkInit?.localIndex !== p.localIndex) return;
    this.#sendInit(p.roundStartedAt, p.attempt + 1);
  }

  /**
   * An init that arrived inside an authenticated connectivity check: handled as any init (same
   * identity, timestamp, tie-break and rate rules); its 0-RTT payloads are delivered and our
   * answer — with what the app queued in reply — is returned for the check's success response
   * instead of being sent. undefined: nothing to answer (dropped, or the tie-break is ours).
   */
  answerInCheck(datagram: Uint8Array): Uint8Array | undefined {
    if (this.#closed) return undefined;
    const last = this.#checkAnswer;
    if (last && Buffer.compare(last.init, datagram) === 0) return last.resp;
    let msg: ParsedMessage;
    try {
      msg = parseMessage(datagram);
    } catch {
      this.#drop('malformed');
      return undefined;
    }
    if (msg.kind !== MessageKind.HANDSHAKE_INIT) return undefined;
    this.stats.datagramsReceived++;
    this.#capturing = true;
    this.#captured = undefined;
    try {
      this.#handleInit(msg.senderIndex, msg.noise);
    } finally {
      this.#capturing = false;
    }
    const resp = this.#captured;
    this.#captured = undefined;
    if (resp) this.#checkAnswer = { init: Uint8Array.from(datagram), resp };
    return resp;
  }

  /**
   * Encrypt and send one payload (≤ MAX_SESSION_PAYLOAD bytes, not empty: empty is a keepalive).
   * Without usable keys it is queued (bounded, oldest dropped) and a handshake is started.
   * Returns 'queued' when it waits for a handshake (so a caller timing round trips knows the
   * sample would include the handshake). Throws `NATPUSH_ERR_SESSION_CLOSED` after close().
   */
  send(payload: Uint8Array): 'sent' | 'queued' {
    this.#assertOpen();
    if (payload.length === 0) throw new RangeError('empty payloads are reserved for keepalives');
    if (payload.length > MAX_SESSION_PAYLOAD)
      throw new RangeError(`payload ${payload.length} bytes, max ${MAX_SESSION_PAYLOAD}`);
    const kp = this.#usable();
    if (kp) {
      this.#sendOn(kp, payload);
      this.#maybeRekey(kp);
      return 'sent';
    }
    this.#enqueue(payload);
    this.#ensureHandshake();
    return 'queued';
  }

  /**
   * Send an empty authenticated datagram (keeps NAT bindings and proves liveness). With no usable
   * keys (expired after rejectAfterMs of quiet) it starts a handshake instead, whose datagrams
   * refresh the binding just as well; keys due for rekey are renewed here too.
   */
  keepalive(): void {
    this.#assertOpen();
    const kp = this.#usable();
    if (kp) {
      this.#sendOn(kp, new Uint8Array(0));
      this.#maybeRekey(kp);
    } else {
      this.#ensureHandshake();
    }
  }

  /** Feed one received datagram. Never throws for anything the network can send. */
  handle(datagram: Uint8Array): HandleResult {
    if (this.#closed) return this.#drop('closed');
    let msg: ParsedMessage;
    try {
      msg = parseMessage(datagram);
    } catch (e) {
      return this.#drop(
        e instanceof SessionError && e.code === SessionErrorCode.UNSUPPORTED_VERSION
          ? 'version'
          : 'malformed',
      );
    }
    this.stats.datagramsReceived++;
    switch (msg.kind) {
      case MessageKind.HANDSHAKE_INIT:
        return this.#handleInit(msg.senderIndex, msg.noise);
      case MessageKind.HANDSHAKE_RESP:
        return this.#handleResp(msg.senderIndex, msg.receiverIndex, msg.noise);
      case MessageKind.TRANSPORT:
        return this.#handleTransport(msg.receiverIndex, msg.counter, msg.header, msg.ciphertext);
      default:
        return this.#drop('malformed');
    }
  }

  /** True if `index` (from peekReceiverIndex) selects one of this session's keypairs/handshakes. */
  ownsIndex(index: number): boolean {
    return (
      this.#keys.owns(index) ||
      this.#pending?.localIndex === index ||
      (this.#pending?.earlier.some((e) => e.localIndex === index) ?? false)
    );
  }

  onMessage(cb: (payload: Uint8Array) => void): () => void {
    this.#onMessage.add(cb);
    return () => this.#onMessage.delete(cb);
  }

  /** Called each time new keys become usable for sending (first handshake and every rekey). */
  onEstablished(cb: () => void): () => void {
    this.#onEstablished.add(cb);
    return () => this.#onEstablished.delete(cb);
  }

  /** Operational failures: `NATPUSH_ERR_SESSION_HANDSHAKE_TIMEOUT`. */
  onError(cb: (err: SessionError) => void): () => void {
    this.#onError.add(cb);
    return () => this.#onError.delete(cb);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#hold?.cancel();
    this.#hold = undefined;
    this.#pending?.timer.cancel();
    this.#pending = undefined;
    this.#confirmTimer?.cancel();
    this.#keys.destroy();
    this.#queue = [];
  }

  // ---- handshake: initiator ---------------------------------------------------------------------

  #ensureHandshake(): void {
    if (this.#pending || !this.#remoteStatic || this.#hold || this.#answering) return;
    const newest = this.#keys.newestCandidate;
    if (newest && this.#clock.now() - newest.createdAt < this.#t.confirmTimeoutMs) {
      // We answered a handshake; its confirmation is on the way. Retry ourselves if it is lost.
      this.#armConfirmTimer();
      return;
    }
    this.#startHandshake();
  }

  #startHandshake(): void {
    this.#hold?.cancel();
    this.#hold = undefined;
    this.#pending?.timer.cancel();
    this.#pending = undefined;
    this.#sendInit(this.#clock.now(), 0);
  }

  #sendInit(roundStartedAt: number, attempt: number, forCheck = false): void {
    const hs = new HandshakeState({
      pattern: 'IK',
      initiator: true,
      prologue: PROLOGUE,
      s: this.#static,
      rs: this.#remoteStatic!,
    });
    // Strictly increasing per initiator, so the responder can refuse replays (WireGuard uses
    // TAI64N for the same purpose).
    const ts = Math.max(Math.floor(this.#clock.now()), this.#lastInitSent + 1);
    this.#lastInitSent = ts;
    // In a check: the queued payloads that fit ride along as 0-RTT data. They stay queued until
    // an answer to this init proves the responder read them (it delivers them before it
    // answers); if none comes, they go on the keys of a later handshake.
    const early = forCheck ? encodeRecords(this.#queue) : NO_RECORDS;
    const payload = writeInitPayload(this.#identity.publicKey, ts, early.bytes);
    const localIndex = this.#newIndex();
    const datagram = encodeInit(localIndex, hs.writeMessage(payload));
    const delay = Math.min(
      this.#t.handshakeRetransmitMs * 2 ** attempt,
      this.#t.maxHandshakeRetransmitMs,
    );
    const timer = this.#clock.setTimeout(() => this.#onHandshakeTimer(), delay);
    const prev = this.#pending;
    const earlier =
      prev && prev.roundStartedAt === roundStartedAt
        ? [
            ...prev.earlier,
            { hs: prev.hs, localIndex: prev.localIndex, earlyCarried: prev.earlyCarried },
          ].slice(-EARLIER_INITS_KEPT)
        : [];
    prev?.timer.cancel();
    this.#pending = {
      hs,
      localIndex,
      roundStartedAt,
      attempt,
      sentAt: this.#clock.now(),
      timer,
      earlier,
      earlyCarried: early.carried,
    };
    this.stats.handshakesInitiated++;
    if (forCheck) {
      this.#checkInit = { localIndex, bytes: datagram };
      return;
    }
    this.#checkInit = undefined; // a retransmission goes over the path: checks stop carrying one
    this.#transmit(datagram);
  }

  #onHandshakeTimer(): void {
    const p = this.#pending;
    if (!p || this.#closed) return;
    if (this.#clock.now() - p.roundStartedAt >= this.#t.handshakeTimeoutMs) {
      this.#pending = undefined;
      this.stats.queueDropped += this.#queue.length;
      this.#queue = [];
      this.#log.debug('session handshake timed out', { peer: this.remotePeerId });
      this.#emitError(
        new SessionError(SessionErrorCode.HANDSHAKE_TIMEOUT, 'no handshake answer from the peer'),
      );
      return;
    }
    // A fresh init (new ephemeral, newer timestamp): resending the same bytes would be refused
    // as a replay by a responder that already saw them but whose answer was lost.
    this.#sendInit(p.roundStartedAt, p.attempt + 1);
  }

  #handleResp(senderIndex: number, receiverIndex: number, noise: Uint8Array): HandleResult {
    const p = this.#pending;
    const attempt =
      p?.localIndex === receiverIndex ? p : p?.earlier.find((e) => e.localIndex === receiverIndex);
    if (!p || !attempt) return this.#drop('unknown-index');
    let early: Uint8Array[];
    try {
      early = decodeRecords(attempt.hs.readMessage(noise));
    } catch (e) {
      return this.#drop(reasonOf(e));
    }
    p.timer.cancel();
    this.#pending = undefined;
    this.#checkInit = undefined;
    const kp = this.#keypairFrom(attempt.hs, attempt.localIndex, senderIndex, true);
    // Unconfirmed answers of ours stay (the peer may be sending on one); being older than these
    // keys, a message on one is accepted without switching back (see #handleTransport).
    this.#install(kp);
    // The responder answered the init that carried these: it has delivered them already.
    this.#forgetQueued(attempt.earlyCarried);
    // Confirm at once (the responder sends nothing on these keys until it hears from us).
    if (this.#queue.length === 0) this.#sendOn(kp, new Uint8Array(0));
    this.#flushQueue();
    this.#emitEstablished();
    // The responder's 0-RTT answer (e.g. the pong of a ping that rode in our init).
    for (const m of early) for (const cb of this.#onMessage) cb(m);
    return { ok: true, kind: 'handshake-resp' };
  }

  // ---- handshake: responder ---------------------------------------------------------------------

  #handleInit(senderIndex: number, noise: Uint8Array): HandleResult {
    // Each init costs three X25519 operations; bound what a flood of junk inits can burn.
    const now = this.#clock.now();
    if (now - this.#initWindowStart >= 1_000) {
      this.#initWindowStart = now;
      this.#initsInWindow = 0;
    }
    if (++this.#initsInWindow > MAX_INITS_PER_SECOND) return this.#drop('rate-limited');
    const hs = new HandshakeState({
      pattern: 'IK',
      initiator: false,
      prologue: PROLOGUE,
      s: this.#static,
    });
    let payload: Buffer;
    try {
      payload = hs.readMessage(noise);
    } catch (e) {
      return this.#drop(reasonOf(e));
    }
    const init = readInitPayload(payload, this.remotePeerId, hs.remoteStatic!);
    if (!init.ok) return this.#drop(init.reason);
    const { ts, early, edB64, converted } = init;
    if (ts <= this.#lastInitSeen) return this.#drop('stale-handshake');
    if (this.#pending && this.#identity.peerId < this.remotePeerId) {
      // Simultaneous open and our handshake wins; the peer will answer ours. If ours went out a
      // while ago it was probably lost: send another now (earlier ones stay answerable).
      const p = this.#pending;
      if (this.#clock.now() - p.sentAt >= TIE_BREAK_RESEND_MS)
        this.#sendInit(p.roundStartedAt, p.attempt);
      return this.#drop('lost-tie-break');
    }
    this.#lastInitSeen = ts;
    if (!this.#remoteEd) {
      this.#remoteEd = edB64;
      this.#remoteStatic = converted;
    }
    if (this.#pending) {
      // Simultaneous open and theirs wins: abandon ours, answer theirs.
      this.#pending.timer.cancel();
      this.#pending = undefined;
    }
    // 0-RTT data (an init carried in a check): authenticated by the init itself, delivered once
    // (the timestamp above refuses a replay). What the app sends back is queued — no keys are
    // confirmed yet — and, in a check, rides in our answer.
    if (early.length > 0) {
      this.#answering = true;
      try {
        for (const m of early) for (const cb of this.#onMessage) cb(m);
      } finally {
        this.#answering = false;
      }
    }
    const localIndex = this.#newIndex();
    const reply = this.#capturing ? encodeRecords(this.#queue) : NO_RECORDS;
    const resp = hs.writeMessage(reply.bytes);
    const candidate = this.#keypairFrom(hs, localIndex, senderIndex, false);
    candidate.earlyCarried = reply.carried;
    this.#keys.addCandidate(candidate);
    const answer = encodeResp(localIndex, senderIndex, resp);
    if (this.#capturing) this.#captured = answer;
    else this.#transmit(answer);
    if (this.#queue.length > 0) this.#armConfirmTimer();
    return { ok: true, kind: 'handshake-init' };
  }

  #armConfirmTimer(): void {
    if (this.#confirmTimer) return;
    this.#confirmTimer = this.#clock.setTimeout(() => {
      this.#confirmTimer = undefined;
      if (this.#closed || this.#queue.length === 0 || this.#usable() || this.#pending) return;
      this.#startHandshake();
    }, this.#t.confirmTimeoutMs);
  }

  // ---- transport --------------------------------------------------------------------------------

  #handleTransport(
    receiverIndex: number,
    counter: number,
    header: Uint8Array,
    ciphertext: Uint8Array,
  ): HandleResult {
    const kp = this.#keys.find(receiverIndex);
    if (!kp) return this.#drop('unknown-index');
    if (this.#clock.now() - kp.createdAt >= this.#t.rejectAfterMs) return this.#drop('expired');
    if (!kp.replay.check(counter)) return this.#drop('replayed');
    let plaintext: Buffer;
    try {
      plaintext = kp.receive.decryptWithNonce(counter, header, ciphertext);
    } catch {
      return this.#drop('decrypt');
    }
    kp.replay.accept(counter);
    // Key confirmation (key-ring.ts): a message under an answer of ours proves the peer has it,
    // and so the 0-RTT payloads that rode in it (they must not go again on these keys).
    const confirmed = this.#keys.confirm(kp);
    if (confirmed) this.#forgetQueued(kp.earlyCarried);
    if (confirmed === 'installed') {
      this.stats.handshakesCompleted++;
      this.#confirmTimer?.cancel();
      this.#confirmTimer = undefined;
      this.#flushQueue();
      this.#emitEstablished();
    }
    if (plaintext.length === 0) return { ok: true, kind: 'keepalive' };
    // `plaintext` is a fresh buffer from the decipher: handed over without a copy.
    for (const cb of this.#onMessage) cb(plaintext);
    return { ok: true, kind: 'data' };
  }

  #sendOn(kp: Keypair, payload: Uint8Array): void {
    const counter = kp.sendCounter++;
    const header = encodeTransportHeader(kp.remoteIndex, counter);
    this.#transmit(kp.send.encryptWithNonce(counter, header, payload, header));
  }

  #maybeRekey(kp: Keypair): void {
    if (this.#pending) return;
    const age = this.#clock.now() - kp.createdAt;
    const due = kp.weInitiated
      ? this.#t.rekeyAfterMs
      : this.#t.rekeyAfterMs + this.#t.responderRekeyDelayMs;
    if (age >= due || kp.sendCounter >= this.#t.rekeyAfterMessages) {
      if (!this.#remoteStatic) return;
      this.#log.debug('session rekey', { peer: this.remotePeerId, age, sent: kp.sendCounter });
      this.#startHandshake();
    }
  }

  /** The keypair to send on, if it is still young and unexhausted enough. */
  #usable(): Keypair | undefined {
    const kp = this.#keys.current;
    if (!kp) return undefined;
    if (this.#clock.now() - kp.createdAt >= this.#t.rejectAfterMs) return undefined;
    if (kp.sendCounter >= this.#t.rejectAfterMessages) return undefined;
    return kp;
  }

  #install(kp: Keypair): void {
    this.#keys.install(kp);
    this.stats.handshakesCompleted++;
  }

  #keypairFrom(
    hs: HandshakeState,
    localIndex: number,
    remoteIndex: number,
    weInitiated: boolean,
  ): Keypair {
    return newKeypair(hs.result!, localIndex, remoteIndex, this.#clock.now(), weInitiated);
  }

  #enqueue(payload: Uint8Array): void {
    this.#queue.push(Uint8Array.from(payload));
    if (this.#queue.length > this.#t.maxQueued) {
      this.#queue.shift();
      this.stats.queueDropped++;
    }
  }

  /** Drop from the queue the payloads the peer already got as 0-RTT data (by identity). */
  #forgetQueued(carried: readonly Uint8Array[] | undefined): void {
    if (!carried || carried.length === 0) return;
    const had = new Set(carried);
    this.#queue = this.#queue.filter((p) => !had.has(p));
  }

  #flushQueue(): void {
    const kp = this.#usable();
    if (!kp) return;
    const q = this.#queue;
    this.#queue = [];
    for (const p of q) this.#sendOn(kp, p);
  }

  #transmit(datagram: Uint8Array): void {
    this.stats.datagramsSent++;
    try {
      this.#send(datagram);
    } catch (e) {
      // A path that throws is the ladder's problem; the session stays intact (STYLE.md §7).
      this.#log.warn('session send failed', { peer: this.remotePeerId, error: String(e) });
    }
  }

  #newIndex(): number {
    for (;;) {
      const i = randomBytes(4).readUInt32LE(0);
      if (!this.ownsIndex(i)) return i;
    }
  }

  #drop(reason: DropReason): HandleResult {
    this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + 1;
    return { ok: false, reason };
  }

  #emitEstablished(): void {
    for (const cb of [...this.#onEstablished]) cb();
  }

  #emitError(err: SessionError): void {
    for (const cb of [...this.#onError]) cb(err);
  }

  #assertOpen(): void {
    if (this.#closed) throw new SessionError(SessionErrorCode.CLOSED, 'session closed');
  }
}
