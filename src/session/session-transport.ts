/**
 * The transport half of a SecureSession (secure-session.ts): sealing payloads on the current
 * keypair with an explicit counter, opening them against the replay window of the keypair the
 * receiver index names, key confirmation of a responder's answer, and the bounded queue of
 * payloads that wait for keys. When and how keys are made is the handshake's (session-handshake.ts);
 * it plugs in through the three abstract members.
 */
import { randomBytes } from 'node:crypto';
import type { Identity } from '../signaling/identity.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { SESSION_DEFAULTS, type SessionTimers } from './constants.js';
import { SessionError, SessionErrorCode } from './errors.js';
import { KeyRing, newKeypair, type Keypair } from './key-ring.js';
import type { HandshakeState } from './noise.js';
import type {
  DropReason,
  HandleResult,
  SecureSessionOptions,
  SessionStats,
} from './session-types.js';
import { MAX_DATAGRAM_BYTES, sealTransport, TRANSPORT_OVERHEAD } from './wire.js';

/** Largest payload `send` takes: one datagram. The ReliableChannel fragments to its MTU. */
export const MAX_SESSION_PAYLOAD = MAX_DATAGRAM_BYTES - TRANSPORT_OVERHEAD;

export abstract class SessionTransport {
  readonly remotePeerId: string;
  protected readonly identity: Identity;
  protected readonly clock: Clock;
  protected readonly log: Logger;
  protected readonly t: SessionTimers;
  protected sendFn: (datagram: Uint8Array) => void;
  /** Transport keypairs: current, previous, unconfirmed answers (key-ring.ts). */
  protected readonly keys = new KeyRing();
  protected confirmTimer: TimerHandle | undefined;
  protected queue: Uint8Array[] = [];
  protected isClosed = false;
  protected readonly messageListeners = new Set<(payload: Uint8Array) => void>();
  protected readonly establishedListeners = new Set<() => void>();
  protected readonly errorListeners = new Set<(err: SessionError) => void>();
  readonly stats: SessionStats = {
    handshakesInitiated: 0,
    handshakesAnswered: 0,
    handshakesCompleted: 0,
    datagramsSent: 0,
    datagramsReceived: 0,
    queueDropped: 0,
    dropped: {},
  };
  /** Swap the path datagrams go out on. Keys, counters and queued payloads are kept. */
  setSend(send: (datagram: Uint8Array) => void): void {
    this.sendFn = send;
  }

  /**
   * Encrypt and send one payload (≤ MAX_SESSION_PAYLOAD bytes, not empty: empty is a keepalive).
   * Without usable keys it is queued (bounded, oldest dropped) and a handshake is started.
   * Returns 'queued' when it waits for a handshake (so a caller timing round trips knows the
   * sample would include the handshake). Throws `NATPUSH_ERR_SESSION_CLOSED` after close().
   */
  send(payload: Uint8Array): 'sent' | 'queued' {
    this.assertOpen();
    if (payload.length === 0) throw new RangeError('empty payloads are reserved for keepalives');
    if (payload.length > MAX_SESSION_PAYLOAD)
      throw new RangeError(`payload ${payload.length} bytes, max ${MAX_SESSION_PAYLOAD}`);
    const now = this.clock.now(); // one read for both checks of this datagram
    const kp = this.usable(now);
    if (kp) {
      this.sendOn(kp, payload);
      this.maybeRekey(kp, now);
      return 'sent';
    }
    this.enqueue(payload);
    this.ensureHandshake();
    return 'queued';
  }

  /**
   * Send an empty authenticated datagram (keeps NAT bindings and proves liveness). With no usable
   * keys (expired after rejectAfterMs of quiet) it starts a handshake instead, whose datagrams
   * refresh the binding just as well; keys due for rekey are renewed here too.
   */
  keepalive(): void {
    this.assertOpen();
    const kp = this.usable();
    if (kp) {
      this.sendOn(kp, new Uint8Array(0));
      this.maybeRekey(kp);
    } else {
      this.ensureHandshake();
    }
  }

  onMessage(cb: (payload: Uint8Array) => void): () => void {
    this.messageListeners.add(cb);
    return () => this.messageListeners.delete(cb);
  }

  /** Called each time new keys become usable for sending (first handshake and every rekey). */
  onEstablished(cb: () => void): () => void {
    this.establishedListeners.add(cb);
    return () => this.establishedListeners.delete(cb);
  }

  /** Operational failures: `NATPUSH_ERR_SESSION_HANDSHAKE_TIMEOUT`. */
  onError(cb: (err: SessionError) => void): () => void {
    this.errorListeners.add(cb);
    return () => this.errorListeners.delete(cb);
  }

  protected handleTransport(
    receiverIndex: number,
    counter: number,
    header: Uint8Array,
    ciphertext: Uint8Array,
  ): HandleResult {
    const kp = this.keys.find(receiverIndex);
    if (!kp) return this.drop('unknown-index');
    if (this.clock.now() - kp.createdAt >= this.t.rejectAfterMs) return this.drop('expired');
    if (!kp.replay.check(counter)) return this.drop('replayed');
    let plaintext: Buffer;
    try {
      plaintext = kp.receive.decryptWithNonce(counter, header, ciphertext);
    } catch {
      return this.drop('decrypt');
    }
    kp.replay.accept(counter);
    // Key confirmation (key-ring.ts): a message under an answer of ours proves the peer has it,
    // and so the 0-RTT payloads that rode in it (they must not go again on these keys).
    const confirmed = this.keys.confirm(kp);
    if (confirmed) this.forgetQueued(kp.earlyCarried);
    if (confirmed === 'installed') {
      this.stats.handshakesCompleted++;
      this.confirmTimer?.cancel();
      this.confirmTimer = undefined;
      this.flushQueue();
      this.emitEstablished();
    }
    if (plaintext.length === 0) return { ok: true, kind: 'keepalive' };
    // `plaintext` is a fresh buffer from the decipher: handed over without a copy.
    for (const cb of this.messageListeners) cb(plaintext);
    return { ok: true, kind: 'data' };
  }

  protected sendOn(kp: Keypair, payload: Uint8Array): void {
    const counter = kp.sendCounter++;
    this.transmit(sealTransport(kp.send, kp.remoteIndex, counter, payload));
  }

  /** The keypair to send on, if it is still young and unexhausted enough. */
  protected usable(now = this.clock.now()): Keypair | undefined {
    const kp = this.keys.current;
    if (!kp) return undefined;
    if (now - kp.createdAt >= this.t.rejectAfterMs) return undefined;
    if (kp.sendCounter >= this.t.rejectAfterMessages) return undefined;
    return kp;
  }

  protected install(kp: Keypair): void {
    this.keys.install(kp);
    this.stats.handshakesCompleted++;
  }

  protected keypairFrom(
    hs: HandshakeState,
    localIndex: number,
    remoteIndex: number,
    weInitiated: boolean,
  ): Keypair {
    return newKeypair(hs.result!, localIndex, remoteIndex, this.clock.now(), weInitiated);
  }

  protected enqueue(payload: Uint8Array): void {
    this.queue.push(Uint8Array.from(payload));
    if (this.queue.length > this.t.maxQueued) {
      this.queue.shift();
      this.stats.queueDropped++;
    }
  }

  /** Drop from the queue the payloads the peer already got as 0-RTT data (by identity). */
  protected forgetQueued(carried: readonly Uint8Array[] | undefined): void {
    if (!carried || carried.length === 0) return;
    const had = new Set(carried);
    this.queue = this.queue.filter((p) => !had.has(p));
  }

  protected flushQueue(): void {
    const kp = this.usable();
    if (!kp) return;
    const q = this.queue;
    this.queue = [];
    for (const p of q) this.sendOn(kp, p);
  }

  protected transmit(datagram: Uint8Array): void {
    this.stats.datagramsSent++;
    try {
      this.sendFn(datagram);
    } catch (e) {
      // A path that throws is the ladder's problem; the session stays intact (STYLE.md §7).
      this.log.warn('session send failed', { peer: this.remotePeerId, error: String(e) });
    }
  }

  protected newIndex(): number {
    for (;;) {
      const i = randomBytes(4).readUInt32LE(0);
      if (!this.ownsIndex(i)) return i;
    }
  }

  protected drop(reason: DropReason): HandleResult {
    this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + 1;
    return { ok: false, reason };
  }

  protected emitEstablished(): void {
    for (const cb of [...this.establishedListeners]) cb();
  }

  protected emitError(err: SessionError): void {
    for (const cb of [...this.errorListeners]) cb(err);
  }

  protected assertOpen(): void {
    if (this.isClosed) throw new SessionError(SessionErrorCode.CLOSED, 'session closed');
  }

  constructor(o: SecureSessionOptions) {
    if (o.remotePeerId === o.identity.peerId)
      throw new TypeError('a session needs two different peers');
    this.remotePeerId = o.remotePeerId;
    this.identity = o.identity;
    this.clock = o.clock;
    this.log = o.logger ?? silentLogger;
    this.t = { ...SESSION_DEFAULTS, ...o.timers };
    this.sendFn = o.send;
  }

  /** Start a handshake if none is under way and one can be (no keys, or keys about to expire). */
  protected abstract ensureHandshake(): void;
  /** Renew `kp` with a fresh handshake when it is old or has sent enough (`now`: clock time). */
  protected abstract maybeRekey(kp: Keypair, now?: number): void;
  /** True if `index` selects one of this session's keypairs or handshakes. */
  abstract ownsIndex(index: number): boolean;
}
