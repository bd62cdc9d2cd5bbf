/**
 * SecureSession: an end-to-end encrypted, mutually authenticated datagram session between two
 * natpush peers, Noise_IK_25519_ChaChaPoly_SHA256 bound to their Ed25519 identities. Pure: the
 * caller feeds datagrams to `handle()` and supplies `send(datagram)`; which path carries them
 * (server `p2p` frame, TURN relay, direct UDP) is invisible here, and `setSend()` swaps it at any
 * time without losing keys or counters. Wire layout: wire.ts.
 *
 * Three layers, one concept each: the transport (session-transport.ts: keys in use, sealing,
 * opening, the queue while there are none), the handshake (session-handshake.ts: Noise IK as
 * initiator and responder, retransmission, tie-break, key confirmation), and this file, the
 * public face: connecting, the handshake carried in connectivity checks, dispatch of incoming
 * datagrams, close.
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
 *   whose timestamp is newer than the last one accepted (as every init) and only from inside an
 *   authenticated check: a responder that restarted forgets the timestamp, but its checks need
 *   the one-time ICE credentials of its new offers, so an init recorded before cannot deliver its
 *   data again (as a check it fails MESSAGE-INTEGRITY; a bare init with 0-RTT data is dropped).
 */
import { peerIdFromPublicKey } from '../signaling/identity.js';
import { SessionError, SessionErrorCode } from './errors.js';
import { x25519PublicFromEd25519 } from './identity-keys.js';
import { SessionHandshake } from './session-handshake.js';
import type { HandleResult, SecureSessionOptions, SessionState } from './session-types.js';
import { MessageKind, parseMessage, type ParsedMessage } from './wire.js';

export { MAX_EARLY_DATA_BYTES } from './early-data.js';
export { MAX_SESSION_PAYLOAD } from './session-transport.js';
export type {
  DropReason,
  HandleResult,
  SecureSessionOptions,
  SessionState,
  SessionStats,
} from './session-types.js';

export class SecureSession extends SessionHandshake {
  constructor(o: SecureSessionOptions) {
    super(o);
    if (o.remotePublicKey) this.setRemotePublicKey(o.remotePublicKey);
  }

  get state(): SessionState {
    if (this.isClosed) return 'closed';
    if (this.usable()) return 'established';
    return this.pending || this.keys.candidates.length > 0 ? 'handshaking' : 'idle';
  }

  get established(): boolean {
    return this.state === 'established';
  }

  /** The remote's Ed25519 key (base64url), once given or learned from its handshake. */
  get remotePublicKey(): string | undefined {
    return this.remoteEd;
  }

  /**
   * Give the remote's Ed25519 key (from `key-request`). Must hash to `remotePeerId` — the server
   * that answered cannot substitute a key (CONTRACTS §1) — else TypeError (the caller checks first).
   */
  setRemotePublicKey(ed25519PublicB64u: string): void {
    if (peerIdFromPublicKey(ed25519PublicB64u) !== this.remotePeerId)
      throw new TypeError('remote public key does not belong to remotePeerId');
    this.remoteStatic = x25519PublicFromEd25519(Buffer.from(ed25519PublicB64u, 'base64url'));
    this.remoteEd = ed25519PublicB64u;
  }

  /** Start a handshake unless keys are usable or one is under way. Needs the remote's key. */
  connect(): void {
    this.assertOpen();
    if (!this.remoteStatic) throw new TypeError('connect() needs the remote public key');
    if (this.usable() || this.pending || this.hold) return;
    this.startHandshake();
  }

  /**
   * Hold the handshake back for up to `maxMs` (a punch is about to send its first checks, which
   * carry the init: `initForCheck`). Payloads sent meanwhile are queued and become 0-RTT data.
   * When the hold ends without a check having taken the init (`releaseHold`, or `maxMs`), the
   * handshake starts over the current path as usual. No-op with keys usable or a handshake out.
   */
  holdHandshake(maxMs: number): void {
    if (this.isClosed || this.hold || this.pending || this.usable()) return;
    this.hold = this.clock.setTimeout(() => this.releaseHold(), maxMs);
  }

  /** End a hold; start the handshake now unless a check took it or keys are usable. */
  releaseHold(): void {
    if (!this.hold) return;
    this.hold.cancel();
    this.hold = undefined;
    if (this.isClosed || this.usable() || this.pending || !this.remoteStatic) return;
    this.startHandshake();
  }

  /**
   * The init for a connectivity check, while the handshake is held for one (or the one already
   * riding the checks): the same bytes for every check until it is answered. undefined when
   * there is nothing to carry. The init's retransmission timer stays armed: if no answer comes
   * (lost, or the punch fails), the next init goes over the current path (the old flow).
   */
  initForCheck(): Uint8Array | undefined {
    if (this.isClosed || this.usable()) return undefined;
    const ci = this.checkInit;
    if (ci && this.pending?.localIndex === ci.localIndex) return ci.bytes;
    if (!this.hold || this.pending || !this.remoteStatic) return undefined;
    this.hold.cancel();
    this.hold = undefined;
    this.sendInit(this.clock.now(), 0, true);
    return this.checkInit?.bytes;
  }

  /**
   * A new path is up and an init is still unanswered — it rode in the checks (the checks that
   * selected the path went without, or the answer was lost), or it went over the old path
   * (lost, or slow behind a loaded server): send a fresh one on the current path at once rather
   * than at the retransmission timer (up to 8 s away), so the path carries as soon as it can.
   * The earlier inits of the round stay answerable. No-op without an init out.
   */
  retryCheckInit(): void {
    const p = this.pending;
    if (this.isClosed || !p) return;
    this.sendInit(p.roundStartedAt, p.attempt + 1);
  }

  /**
   * An init that arrived inside an authenticated connectivity check: handled as any init (same
   * identity, timestamp, tie-break and rate rules); its 0-RTT payloads are delivered and our
   * answer — with what the app queued in reply — is returned for the check's success response
   * instead of being sent. undefined: nothing to answer (dropped, or the tie-break is ours).
   */
  answerInCheck(datagram: Uint8Array): Uint8Array | undefined {
    if (this.isClosed) return undefined;
    const last = this.checkAnswer;
    if (last && Buffer.compare(last.init, datagram) === 0) return last.resp;
    let msg: ParsedMessage;
    try {
      msg = parseMessage(datagram);
    } catch {
      this.drop('malformed');
      return undefined;
    }
    if (msg.kind !== MessageKind.HANDSHAKE_INIT) return undefined;
    this.stats.datagramsReceived++;
    this.capturing = true;
    this.captured = undefined;
    try {
      this.handleInit(msg.senderIndex, msg.noise);
    } finally {
      this.capturing = false;
    }
    const resp = this.captured;
    this.captured = undefined;
    if (resp) this.checkAnswer = { init: Uint8Array.from(datagram), resp };
    return resp;
  }

  /** Feed one received datagram. Never throws for anything the network can send. */
  handle(datagram: Uint8Array): HandleResult {
    if (this.isClosed) return this.drop('closed');
    let msg: ParsedMessage;
    try {
      msg = parseMessage(datagram);
    } catch (e) {
      return this.drop(
        e instanceof SessionError && e.code === SessionErrorCode.UNSUPPORTED_VERSION
          ? 'version'
          : 'malformed',
      );
    }
    this.stats.datagramsReceived++;
    switch (msg.kind) {
      case MessageKind.HANDSHAKE_INIT:
        return this.handleInit(msg.senderIndex, msg.noise);
      case MessageKind.HANDSHAKE_RESP:
        return this.handleResp(msg.senderIndex, msg.receiverIndex, msg.noise);
      case MessageKind.TRANSPORT:
        return this.handleTransport(msg.receiverIndex, msg.counter, msg.header, msg.ciphertext);
      default:
        return this.drop('malformed');
    }
  }

  /** True if `index` (from peekReceiverIndex) selects one of this session's keypairs/handshakes. */
  ownsIndex(index: number): boolean {
    return (
      this.keys.owns(index) ||
      this.pending?.localIndex === index ||
      (this.pending?.earlier.some((e) => e.localIndex === index) ?? false)
    );
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.hold?.cancel();
    this.hold = undefined;
    this.pending?.timer.cancel();
    this.pending = undefined;
    this.confirmTimer?.cancel();
    this.keys.destroy();
    this.queue = [];
  }
}
