/**
 * One WebSocket connection: the hello → challenge → auth handshake, then the peer's frames.
 * Every frame is size-checked, parsed and schema-validated (protocol.ts) and rate-limited
 * before it is acted on; any violation gets an `error` frame with a stable code and, when fatal,
 * the socket is closed. Nothing a client sends can throw out of here.
 */
import type WebSocket from 'ws';
import type { TimerHandle } from '../util/clock.js';
import type { ServerContext } from './context.js';
import type { PeerSession } from './delivery.js';
import { SignalingError, SignalingErrorCode } from './errors.js';
import { asSignalingError, ingest } from './ingest.js';
import type { ControlChannel } from './presence.js';
import {
  isSupportedVersion,
  type ClientMessage,
  type Notification,
  type ServerMessage,
} from './protocol.js';
import { PROTOCOL_VERSION } from './constants.js';
import { SERVER_FRAMES } from './protocol-fields.js';
import { TokenBucket } from '../util/token-bucket.js';
import { issueTurnCredentials } from './turn-credentials.js';
import { storeFailure } from './store/failure.js';
import { ConnectionOffers } from './ws-punch-offers.js';
import { EarlyFrames, MAX_EARLY_BYTES, MAX_EARLY_FRAMES, readClientFrame } from './ws-inbound.js';
import { WS_CLOSE, WsSender } from './ws-sender.js';

/**
 * `registering`: the signature checked, the peer's registration being made durable
 * (mailbox.ts `registration`); `welcome` comes after it.
 */
type State = 'hello' | 'auth' | 'registering' | 'ready' | 'closed';

export class WsConnection implements PeerSession, ControlChannel {
  readonly transport = 'websocket' as const;
  peer = '';
  rttMs = 0;
  /** Set by the keepalive sweep; cleared by a pong. */
  awaitingPong = false;
  pingSentAt = 0;
  #challengeSentAt = 0;
  #state: State = 'hello';
  #publicKey = '';
  #region: string | undefined; // `hello.region`: its TURN relay's region, if the fleet has one
  #nonce = '';
  #handshakeTimer: TimerHandle | undefined;
  /** Frames received while `registering` (ws-inbound.ts bounds), handled after `welcome`. */
  readonly #early = new EarlyFrames();
  readonly #out: WsSender;
  readonly #bucket: TokenBucket;
  /** This peer's punch offer and the punches held for it (ws-punch-offers.ts). */
  readonly punchOffers: ConnectionOffers;

  constructor(
    readonly ws: WebSocket,
    readonly address: string,
    private readonly ctx: ServerContext,
    /** The server address this connection arrived on (the default host of TURN URLs). */
    readonly localAddress = '',
  ) {
    this.#out = new WsSender(ws, ctx, (code, message) => this.fail(code, message));
    this.#bucket = new TokenBucket(
      { ratePerSecond: ctx.limits.ratePerSecond, burst: ctx.limits.rateBurst },
      ctx.clock.now(),
    );
    this.#handshakeTimer = ctx.clock.setTimeout(
      () => this.fail(SignalingErrorCode.HANDSHAKE_TIMEOUT, 'handshake not finished in time'),
      ctx.timing.handshakeTimeoutMs,
    );
    this.punchOffers = new ConnectionOffers(ctx);
    ws.on('message', (data, isBinary) => this.#onData(data, isBinary));
    ws.on('pong', () => this.#onPong());
  }

  get ready(): boolean {
    return this.#state === 'ready';
  }

  /** The raw Ed25519 public key (base64url) this connection authenticated with. */
  get publicKey(): string {
    return this.#publicKey;
  }

  // ---- PeerSession / ControlChannel ----------------------------------------------------------

  offer(n: Notification): boolean {
    if (this.#state !== 'ready' || !this.#out.hasRoom()) return false;
    this.#out.write({ type: 'deliver', n });
    return true;
  }

  control(m: ServerMessage): boolean {
    if (this.#state !== 'ready' || !this.#out.hasRoom()) return false;
    this.#out.write(m);
    return true;
  }

  close(code: string, message: string): void {
    this.#closeWith(code, message, wsCloseCode(code));
  }

  /** Send a fatal error frame and close. */
  fail(code: string, message: string, ref?: string): void {
    this.#closeWith(code, message, wsCloseCode(code), ref);
  }

  /** The socket closed (either side): leave every table. */
  onClosed(): void {
    if (this.#state === 'closed') return;
    const wasReady = this.#state === 'ready';
    this.#state = 'closed';
    this.#handshakeTimer?.cancel();
    this.punchOffers.close();
    if (wasReady) {
      this.ctx.presence.removeChannel(this);
      this.ctx.delivery.detach(this);
    }
  }

  // ---- frames --------------------------------------------------------------------------------

  #onData(data: WebSocket.RawData, isBinary: boolean): void {
    if (this.#state === 'closed') return;
    if (!this.#bucket.take(1, this.ctx.clock.now())) {
      this.fail(
        SignalingErrorCode.RATE_LIMITED,
        `more than ${this.ctx.limits.ratePerSecond} frames/s`,
      );
      return;
    }
    let frame: { m: ClientMessage; size: number };
    try {
      frame = readClientFrame(data, isBinary, this.ctx.limits.maxFrameBytes);
    } catch (err) {
      const e = asSignalingError(err);
      this.fail(e.code, e.message);
      return;
    }
    this.#dispatch(frame.m, frame.size);
  }

  #dispatch(m: ClientMessage, size = 0): void {
    if (this.#state === 'hello')
      return m.type === 'hello' ? this.#onHello(m) : this.#notAuthenticated();
    if (this.#state === 'auth')
      return m.type === 'auth' ? this.#onAuth(m) : this.#notAuthenticated();
    if (this.#state === 'registering') {
      if (this.#early.push(m, size)) return;
      return this.fail(
        SignalingErrorCode.BAD_FRAME,
        `more than ${MAX_EARLY_FRAMES} frames or ${MAX_EARLY_BYTES} bytes before welcome`,
      );
    }
    switch (m.type) {
      case 'notify':
        return this.#onNotify(m);
      case 'ack':
        this.ctx.delivery.ack(this.peer, m.ids, 'websocket');
        return;
      case 'watch':
        return this.ctx.presence.watch(this, m.peers);
      case 'allow':
        return this.ctx.presence.allow(this, m.peers, m.anyone);
      case 'candidates':
        return this.punchOffers.candidates(this, m);
      case 'offer':
        return this.punchOffers.offered(this.peer, m);
      case 'punch':
        // Unanswered when refused: an error would tell a stranger that `to` is online.
        this.ctx.presence.punch(this, m.to, m.rid);
        return;
      case 'punch-end':
        // As `punch`: only to a peer that allows us (presence.ts forward), else silently dropped.
        this.ctx.presence.forward(this.peer, m.to, {
          type: 'punch-end',
          from: this.peer,
          rid: m.rid,
          ...(m.ufrag !== undefined ? { ufrag: m.ufrag } : {}),
          reason: m.reason,
        });
        return;
      case 'p2p':
        // Best effort, never stored; the token bucket above already charged this frame.
        this.ctx.presence.forward(this.peer, m.to, { type: 'p2p', from: this.peer, data: m.data });
        return;
      case 'key-request':
        return this.#onKeyRequest(m);
      case 'turn-credentials':
        return this.#onTurnCredentials(m.ref, m.region ?? this.#region);
      case 'ping':
        return this.#reply({ type: 'pong', t: m.t });
      case 'pong':
        return;
      case 'hello':
      case 'auth':
        return this.fail(SignalingErrorCode.BAD_FRAME, `${m.type} after authentication`);
    }
  }

  #notAuthenticated(): void {
    this.fail(SignalingErrorCode.NOT_AUTHENTICATED, 'authenticate first: hello, then auth');
  }

  #onHello(m: Extract<ClientMessage, { type: 'hello' }>): void {
    if (!isSupportedVersion(m.v)) {
      return this.fail(
        SignalingErrorCode.UNSUPPORTED_VERSION,
        `protocol v${m.v} unsupported; this server speaks v${PROTOCOL_VERSION}`,
      );
    }
    if (!this.ctx.admission.admitsPeer(m.peer, m.token)) {
      return this.fail(
        SignalingErrorCode.ADMISSION_DENIED,
        'a valid peer token is required to register here',
      );
    }
    this.peer = m.peer;
    this.#publicKey = m.publicKey;
    this.#region = m.region;
    const c = this.ctx.challenges.issue(m.peer);
    this.#nonce = c.nonce;
    this.#state = 'auth';
    this.#challengeSentAt = this.ctx.clock.now();
    this.#out.write({ type: 'challenge', ...c });
  }

  #onAuth(m: Extract<ClientMessage, { type: 'auth' }>): void {
    try {
      // The nonce must be the one issued on this connection: a nonce from another connection
      // is a replay even if it is still outstanding.
      if (m.nonce !== this.#nonce) {
        throw new SignalingError(
          SignalingErrorCode.CHALLENGE_REPLAYED,
          'not the challenge issued on this connection',
        );
      }
      this.ctx.challenges.consume(m.nonce, this.peer, this.#publicKey, m.signature);
    } catch (err) {
      const e = asSignalingError(err);
      return this.fail(e.code, e.message);
    }
    this.#state = 'registering';
    // First RTT sample: challenge out → auth in (one round trip plus an Ed25519 signature, well
    // under a millisecond). Without it `rttMs` stayed 0 until the first ping 25 s later, and a
    // punch in that window was scheduled as if both peers were next door: on long links the later
    // `punch-start` then arrived after `at` and the first checks did not cross.
    if (this.rttMs === 0) this.rttMs = Math.max(1, this.ctx.clock.now() - this.#challengeSentAt);
    this.ctx.mailbox.register(this.peer, this.#publicKey);
    // The handshake timer keeps running: a store that does not answer ends the handshake.
    this.ctx.mailbox.registration(this.peer).then(
      () => this.#welcome(),
      (err: unknown) => {
        const e =
          err instanceof SignalingError ? err : storeFailure(err, 'cannot register the peer');
        this.fail(e.code, e.message);
      },
    );
  }

  /** The registration is durable: welcome the peer, then handle what it sent meanwhile. */
  #welcome(): void {
    if (this.#state !== 'registering') return;
    this.#handshakeTimer?.cancel();
    this.#handshakeTimer = undefined;
    this.#state = 'ready';
    // The relay's credentials ride in the welcome (protocol.ts `welcome.turn`): STUN and Allocate
    // start at once, not a `turn-credentials` round trip later. Minted as issueTurnCredentials
    // does, but not counted in natpush_turn_credentials_issued_total (answered requests only).
    const at = this.ctx.clock.now();
    const turn = this.ctx.turn?.issue(this.peer, this.localAddress, at, this.#region);
    if (turn) this.ctx.rendezvous?.noteAddress(this.peer, this.ctx.rendezvous.addressOf(this.peer));
    this.#out.write({
      type: 'welcome',
      v: PROTOCOL_VERSION,
      peer: this.peer,
      server: this.ctx.serverId,
      sessionToken: this.ctx.sessionTokens.mint(this.peer).token,
      time: at,
      limits: {
        maxFrameBytes: this.ctx.limits.maxFrameBytes,
        maxBodyBytes: this.ctx.limits.maxBodyBytes,
        maxTtlSeconds: this.ctx.limits.maxTtlSeconds,
        ratePerSecond: this.ctx.limits.ratePerSecond,
      },
      ...(turn ? { turn } : {}),
      frames: [...SERVER_FRAMES],
    });
    this.ctx.presence.addChannel(this);
    this.ctx.delivery.attach(this);
    this.punchOffers.welcomed(this.peer, this.rttMs);
    for (const m of this.#early.take()) if (this.#state === 'ready') this.#dispatch(m);
  }

  #onNotify(m: Extract<ClientMessage, { type: 'notify' }>): void {
    ingest(
      this.ctx,
      { id: m.id, from: this.peer, to: m.to, topic: m.topic, body: m.body, ttl: m.ttl },
      'websocket',
    ).then(
      // Dropped if the sender does not read (it is stored all the same: a retry with the same id
      // is answered `duplicate`), like every reply.
      (r) =>
        this.#reply({
          type: 'accepted',
          ref: m.ref,
          id: r.id,
          to: m.to,
          // Presence only for peers the recipient allows (finding 5): a hidden recipient
          // looks offline, exactly like one that is.
          online: r.online && this.ctx.presence.visibleTo(m.to, this.peer) !== undefined,
          duplicate: r.duplicate,
        }),
      (err: unknown) => this.#error(asSignalingError(err), m.ref),
    );
  }

  /**
   * The Ed25519 key a peer registered with, from the store's `addPeer` records (or, for a peer
   * that registered a moment ago and is not committed yet, from its live connection). The
   * requester checks `peerIdFromPublicKey(publicKey) === peer`, so the answer cannot be forged.
   */
  #onKeyRequest(m: Extract<ClientMessage, { type: 'key-request' }>): void {
    const publicKey =
      this.ctx.mailbox.store.peerKey(m.peer) ?? this.ctx.presence.channel(m.peer)?.publicKey;
    if (!publicKey) {
      return this.#error(
        new SignalingError(SignalingErrorCode.UNKNOWN_PEER, 'peer has never registered here'),
        m.ref,
      );
    }
    this.#reply({ type: 'key', ref: m.ref, peer: m.peer, publicKey });
  }

  /**
   * Mint TURN credentials bound to this authenticated peer (`expiry:peerId`). Only reachable in
   * state `ready`: before the challenge login #dispatch answers NOT_AUTHENTICATED. The frame
   * went through the connection's token bucket like every other one.
   */
  #onTurnCredentials(ref: string, region: string | undefined): void {
    // Checked first: credentials that could not be sent are not minted (nor counted as issued).
    if (!this.#roomForReply('turn-credentials')) return;
    try {
      const c = issueTurnCredentials(this.ctx, this.peer, this.localAddress, region);
      this.#out.write({ type: 'turn-credentials', ref, ...c });
    } catch (err) {
      this.#error(asSignalingError(err), ref);
    }
  }

  /** Non-fatal error frame (the connection stays open); a reply like any other. */
  #error(e: SignalingError, ref?: string): void {
    this.ctx.metrics.errors.inc({ code: e.code });
    if (this.#state === 'closed') return;
    this.#reply({
      type: 'error',
      code: e.code,
      message: e.message,
      fatal: false,
      ...(ref ? { ref } : {}),
    });
  }

  #onPong(): void {
    this.awaitingPong = false;
    const sample = this.ctx.clock.now() - this.pingSentAt;
    // RFC 6298-style smoothing (alpha 1/8) so one slow pong does not swing punch timing.
    this.rttMs = this.rttMs === 0 ? sample : this.rttMs + (sample - this.rttMs) / 8;
  }

  #closeWith(code: string, message: string, wsCode: number, ref?: string): void {
    if (this.#state === 'closed') return;
    this.ctx.metrics.errors.inc({ code });
    this.#out.write({ type: 'error', code, message, fatal: true, ...(ref ? { ref } : {}) });
    this.onClosed();
    this.ws.close(wsCode, code);
  }

  /** Replies only in state `ready`; ws-sender.ts drops them for a peer that does not read. */
  #roomForReply(type: ServerMessage['type']): boolean {
    return this.#state === 'ready' && this.#out.roomForReply(type);
  }

  #reply(m: ServerMessage): void {
    if (this.#roomForReply(m.type)) this.#out.write(m);
  }
}

/** The WebSocket close code for an error (RFC 6455 §7.4.1): a shutdown is 1001 Going Away however
 *  the connection learns of it (welcomed or still logging in), so clients reconnect elsewhere. */
function wsCloseCode(code: string): number {
  if (code === SignalingErrorCode.SHUTTING_DOWN) return WS_CLOSE.goingAway;
  return code === SignalingErrorCode.FRAME_TOO_LARGE ? WS_CLOSE.tooBig : WS_CLOSE.policy;
}
