/**
 * `Peer`: the public library API. A peer holds one outbound connection to a natpush server and
 * receives notifications over it from anywhere; it sends notifications to other peers by id.
 *
 *   const peer = await Peer.connect({ server: 'http://127.0.0.1:8787' });
 *   await peer.notify(otherId, 'hello', { topic: 'chat' });   // { path, status, via, ... }
 *   for await (const n of peer.notifications()) console.log(n.from, n.body);
 *
 * The ladder (DESIGN.md): `notify()` works at once on the server rungs — sealed end to end to
 * the recipient (sealed-body.ts; its key from `key-request`, verified against its peer id) and
 * stored in the mailbox when it is offline — while a per-peer end-to-end session (peer-link.ts:
 * Noise IK + reliable channel) starts over `p2p` frames through the server and moves up to a
 * relay, then a direct UDP path (src/punch on this peer's one UDP socket), and back down when a
 * path dies. A notification to a peer whose session has a UDP path goes over it; if the path
 * dies before the ack, the same id goes over the sealed server rung, and the receiver dedupes by
 * (sender, id) across rungs. `allow` (contacts.ts) decides who sees this peer and may open a
 * session to it. `direct: false` opens no UDP socket at all.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Clock, TimerHandle } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import { SignalingClient, type Welcome } from '../signaling/client.js';
import { LIMITS } from '../signaling/constants.js';
import { SignalingError, SignalingErrorCode } from '../signaling/errors.js';
import { isPeerId, type Identity } from '../signaling/identity.js';
import type {
  ClientMessage,
  Notification,
  ServerMessage,
  Transport,
} from '../signaling/protocol.js';
import { AsyncQueue } from './async-queue.js';
import type {
  DeliveryPath,
  DropReason,
  NotifyOptions,
  NotifyResult,
  PeerEvents,
  PeerOptions,
  ReceivedNotification,
  TurnCredentialsRequestOptions,
} from './peer-types.js';
import { PunchLayer } from './punch-layer.js';
import { TurnRequests, type TurnCredentialsResult } from './turn-requests.js';
import { Contacts } from './contacts.js';
import { Dedupe } from './dedupe.js';
import { loadOrCreateIdentity } from './identity-file.js';
import { KeyDirectory } from './key-directory.js';
import { isSealedBody, maxSealedBodyBytes, openBody, sealBody } from './sealed-body.js';
import { PeerLink, type LinkPath } from './peer-link.js';
import type { PunchSignalIn } from '../punch/connector.js';
import type { PunchedPath } from '../punch/path.js';
import { isSessionDatagram } from '../session/wire.js';
import type { Notification as ChannelNotification } from '../session/reliable.js';
import { nodeUdpNetwork } from '../net/node-udp.js';

/**
 * Peers with a live end-to-end session at once. Each holds session keys, a reliable channel's
 * bounded buffers and possibly a punched path with consent checks every ~5 s; 256 covers a
 * device's working set. Beyond it the least recently used link is closed (it is rebuilt on the
 * next notify; notifications in between use the sealed server rungs).
 */
const MAX_LINKS = 256;
/**
 * Notifications received and not yet taken by the application. Server-routed ones are bounded
 * by the server's delivery window; session-delivered ones by this: above it the sessions stop
 * reading (their senders fall back to the server rung), so memory stays bounded and nothing is
 * acked that the application has not got room for.
 */
const MAX_UNCONSUMED = 4_096;
interface PendingNotify {
  ref: string;
  id: string;
  to: string;
  topic: string | undefined;
  body: string;
  ttl: number | undefined;
  /** The sealed frame, once the recipient's key is known (resent after every reconnect). */
  frame?: Extract<ClientMessage, { type: 'notify' }>;
  started: number;
  deliveryTimeoutMs: number;
  accepted?: { online: boolean; duplicate: boolean };
  timer?: TimerHandle;
  resolve: (r: NotifyResult) => void;
  reject: (e: unknown) => void;
  cleanup: () => void;
}

export type {
  DeliveryPath,
  DropReason,
  NotifyOptions,
  NotifyResult,
  PeerEvents,
  PeerOptions,
  ReceivedNotification,
  TurnCredentialsRequestOptions,
  TurnCredentialsResult,
};

export class Peer extends EventEmitter<PeerEvents> {
  readonly identity: Identity;
  readonly #client: SignalingClient;
  readonly #clock: Clock;
  readonly #dedupe: Dedupe;
  readonly #queue = new AsyncQueue<ReceivedNotification>();
  readonly #pending = new Map<string, PendingNotify>();
  readonly #byId = new Map<string, PendingNotify>();
  readonly #paths = new Map<string, DeliveryPath>();
  readonly #turn: TurnRequests;
  /**
   * Default notification ids: a random prefix per Peer (72 bits: unique across restarts, which
   * receivers' (sender, id) dedupe needs) and a counter — ≤ 21 characters, as short as the 22 of
   * a random 16-byte id, at a fraction of the cost (randomBytes was ~8 µs per notify in a flood
   * profile). Refs only key our own pending tables, so a counter is enough.
   */
  readonly #idPrefix = randomBytes(9).toString('base64url');
  #idCounter = 0;
  #refCounter = 0;
  /** `delivered` can overtake `accepted` (the ack path needs no fsync); remember it briefly. */
  readonly #earlyDelivered = new Map<string, Transport>();
  #acks: string[] = [];
  #ackScheduled = false;
  #watching: string[] = [];
  #closed = false;
  #started = false;
  /** Server time of the current connection's welcome: older notifications waited in the mailbox. */
  #welcomeTime = Number.POSITIVE_INFINITY;
  readonly #connectTimeoutMs: number | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #server: string;
  /** Pending `ready()` waiters, rejected by `close()`. */
  readonly #connectWaiters = new Set<(e: unknown) => void>();
  readonly #logger: Logger;
  readonly #keys: KeyDirectory;
  readonly #contacts: Contacts;
  /**
   * Queued notifications of which the server delivered a copy (acked when consumed). Bounded by
   * the queue, which the server's delivery window bounds.
   */
  readonly #serverCopies = new Set<string>();
  readonly #links = new Map<string, PeerLink>();
  readonly #direct: boolean;
  readonly #warmDirect: boolean;
  readonly #punch: PunchLayer;
  /** Counters for the application and tests. */
  readonly stats: { dropped: Partial<Record<DropReason, number>> } = { dropped: {} };

  private constructor(o: PeerOptions) {
    super();
    this.identity =
      typeof o.identity === 'string' ? loadOrCreateIdentity(o.identity).identity : o.identity;
    this.#clock = o.clock ?? systemClock;
    this.#logger = o.logger ?? silentLogger;
    this.#dedupe = new Dedupe(o.dedupeCapacity);
    this.#contacts = new Contacts(o.allow);
    this.#direct = o.direct !== false;
    this.#warmDirect = this.#direct && o.warmDirect !== false;
    this.#keys = new KeyDirectory({
      clock: this.#clock,
      request: (ref, peer) => this.#sendFrame({ type: 'key-request', ref, peer }),
    });
    if (o.connectTimeoutMs !== undefined && !(o.connectTimeoutMs > 0))
      throw new RangeError(`connectTimeoutMs must be > 0, got ${o.connectTimeoutMs}`);
    this.#connectTimeoutMs = o.connectTimeoutMs;
    this.#client = new SignalingClient({
      url: o.server,
      identity: this.identity,
      clock: this.#clock,
      logger: o.logger ?? silentLogger,
      ...(o.peerToken ? { peerToken: o.peerToken } : {}),
      ...(o.backoff ? { backoff: o.backoff } : {}),
      ...(o.wsOptions ? { wsOptions: o.wsOptions } : {}),
      ...(o.connectTimeoutMs !== undefined
        ? { handshakeTimeoutMs: Math.min(10_000, o.connectTimeoutMs) }
        : {}),
    });
    this.#turn = new TurnRequests({
      clock: this.#clock,
      send: (ref) => void this.#client.send({ type: 'turn-credentials', ref }),
    });
    this.#punch = new PunchLayer({
      enabled: this.#direct,
      peerId: this.identity.peerId,
      clock: this.#clock,
      logger: this.#logger,
      udp: o.udp ?? nodeUdpNetwork,
      ...(o.interfaces ? { interfaces: o.interfaces } : {}),
      turnCredentials: (r) => this.turnCredentials(r),
      welcomeTurn: () => this.#client.welcome?.turn,
      sendSignal: (f) => this.sendSignal(f),
      clockOffsetMs: () => this.clockOffsetMs,
      accept: (peer) => this.#contacts.allows(peer),
      onIncoming: (peer, path) => this.#onIncomingPunch(peer, path),
      // The Noise handshake in the punch's first checks (peer-link.ts): a link is made for an
      // allowed peer whose authenticated check carries an init, as for its `p2p` frames.
      handshakes: {
        init: (peer) => this.#links.get(peer)?.initForCheck(),
        answer: (peer, d) =>
          isSessionDatagram(d)
            ? this.#linkFor(peer, this.#contacts.allows(peer))?.answerInCheck(d)
            : undefined,
        response: (peer, d) => {
          if (isSessionDatagram(d)) this.#links.get(peer)?.handleCheckResponse(d);
        },
      },
      closed: () => this.#closed,
      ...(o.portmap === false ? { portmap: false } : {}),
      ...(o.portPrediction === false ? { portPrediction: false } : {}),
    });
    this.#client.on('retry', (r) => this.emit('reconnecting', r));
    this.#client.on('ready', (w) => this.#onReady(w));
    this.#client.on('message', (m) => this.#onMessage(m));
    this.#client.on('disconnected', (e) => this.emit('disconnected', e));
    this.#client.on('fatal', (e) => this.#onFatal(e));
    this.#signal = o.signal;
    this.#server = o.server;
    o.signal?.addEventListener('abort', () => void this.close(), { once: true });
  }

  /**
   * Connect and authenticate; resolves on the first `welcome`. Keeps reconnecting afterwards.
   * Rejects with NATPUSH_ERR_UNREACHABLE after `connectTimeoutMs`, with the server's fatal error
   * (e.g. NATPUSH_ERR_ADMISSION_DENIED), or NATPUSH_ERR_ABORTED; the peer is closed then.
   */
  static async connect(o: PeerOptions): Promise<Peer> {
    const p = Peer.open(o);
    await p.ready();
    return p;
  }

  /**
   * A peer that starts connecting now; attach listeners (`reconnecting`, ...) and `await
   * ready()`. `connect(o)` is `open(o)` + `ready()`.
   */
  static open(o: PeerOptions): Peer {
    if (!o.server) throw new TypeError('server URL required');
    return new Peer(o);
  }

  /** Resolves on the first `welcome` (at once if connected); rejects as `connect()` does. */
  ready(): Promise<void> {
    if (this.#client.ready) return Promise.resolve();
    if (this.#closed)
      return Promise.reject(
        new SignalingError(SignalingErrorCode.CONNECTION_CLOSED, 'peer is closed'),
      );
    return this.#firstWelcome(this.#signal);
  }

  get id(): string {
    return this.identity.peerId;
  }

  get connected(): boolean {
    return this.#client.ready;
  }

  /** Server time minus local time, from the last welcome (for punch scheduling). */
  get clockOffsetMs(): number {
    return this.#client.clockOffsetMs;
  }

  /**
   * Send `body` to `to`. Resolves once the server stored it (`path: 'mailbox'`) or, when the
   * recipient is online, once it acked (`path: 'server-routed'`). Survives reconnects (resent with
   * the same id; the server and the receiver dedupe). Rejects with a typed SignalingError.
   */
  notify(to: string, body: string, o: NotifyOptions = {}): Promise<NotifyResult> {
    if (!isPeerId(to)) throw new TypeError(`not a peer id: ${to}`);
    if (typeof body !== 'string') throw new TypeError('body must be a string');
    const id = o.id ?? `${this.#idPrefix}.${(this.#idCounter++).toString(36)}`;
    const maxBody = Math.min(LIMITS.maxBodyBytes, maxSealedBodyBytes(id, o.topic));
    if (Buffer.byteLength(body) > maxBody)
      throw new RangeError(`body larger than ${maxBody} bytes`);
    if (this.#closed)
      return Promise.reject(
        new SignalingError(SignalingErrorCode.CONNECTION_CLOSED, 'peer is closed'),
      );
    if (o.signal?.aborted)
      return Promise.reject(new SignalingError(SignalingErrorCode.ABORTED, 'aborted'));
    const ref = (this.#refCounter++).toString(36);
    if (o.timeoutMs !== undefined && !(o.timeoutMs > 0))
      throw new RangeError(`timeoutMs must be > 0, got ${o.timeoutMs}`);
    return new Promise<NotifyResult>((resolve, reject) => {
      const onAbort = () =>
        this.#settle(p, new SignalingError(SignalingErrorCode.ABORTED, 'aborted'));
      const acceptTimer =
        o.timeoutMs === undefined
          ? undefined
          : this.#clock.setTimeout(() => {
              if (p.accepted) return;
              this.#settle(
                p,
                new SignalingError(
                  SignalingErrorCode.REQUEST_TIMEOUT,
                  `the server did not accept ${id} in ${o.timeoutMs} ms`,
                ),
              );
            }, o.timeoutMs);
      const p: PendingNotify = {
        ref,
        id,
        to,
        topic: o.topic,
        body,
        ttl: o.ttl,
        started: this.#clock.now(),
        deliveryTimeoutMs: o.deliveryTimeoutMs ?? 5_000,
        resolve,
        reject,
        cleanup: () => {
          acceptTimer?.cancel();
          o.signal?.removeEventListener('abort', onAbort);
        },
      };
      o.signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(ref, p);
      this.#byId.set(id, p);
      this.#noteContact(to);
      void this.#dispatch(p);
    });
  }

  /**
   * Send on the best rung that exists now. Server rungs: seal to the recipient's verified key
   * (fetched once with `key-request`, cached) and send a `notify` whose body only the recipient
   * can open; resent unchanged (same id) after a reconnect.
   */
  async #dispatch(p: PendingNotify): Promise<void> {
    const link = this.#direct ? this.#linkFor(p.to, true) : undefined;
    if (link?.carries) {
      // Rungs 1-2: the end-to-end session over a UDP path, acked by the remote's channel.
      try {
        await link.notify(
          { id: p.id, ...(p.topic ? { topic: p.topic } : {}), body: p.body },
          p.deliveryTimeoutMs > 0 ? p.deliveryTimeoutMs : 5_000,
        );
        return this.#settle(p, linkDeliveryPath(link.path));
      } catch (err) {
        // The path died before the ack: the same id goes down to the sealed server rung; the
        // receiver dedupes by (sender, id) whichever copies arrive.
        if (this.#pending.get(p.ref) !== p) return;
        this.#logger.debug('session send failed, falling back to the server', {
          peer: p.to,
          id: p.id,
          err: String(err),
        });
      }
    } else if (link) void link.start().catch(() => {}); // upgrade in the background
    let key: string;
    try {
      key = await this.#keys.get(p.to);
    } catch (err) {
      return this.#settle(p, err instanceof Error ? err : new Error(String(err)));
    }
    if (this.#pending.get(p.ref) !== p) return; // settled meanwhile (abort, close, timeout)
    let body: string;
    try {
      body = sealBody(this.identity, key, {
        id: p.id,
        ...(p.topic ? { topic: p.topic } : {}),
        body: p.body,
      });
    } catch (err) {
      return this.#settle(p, err instanceof Error ? err : new Error(String(err)));
    }
    p.frame = {
      type: 'notify',
      ref: p.ref,
      id: p.id,
      to: p.to,
      body,
      ...(p.ttl !== undefined ? { ttl: p.ttl } : {}),
    };
    this.#client.send(p.frame);
  }

  /**
   * Notifications for this peer, each exactly once, in order per sender. A notification is acked
   * to the server when the loop takes it. `signal` ends the loop (not the peer).
   */
  async *notifications(o: { signal?: AbortSignal } = {}): AsyncGenerator<ReceivedNotification> {
    for (;;) {
      const r = await this.#queue.next(o.signal);
      if (r.done) return;
      const key = dedupeKey(r.value.from, r.value.id);
      this.#dedupe.consumed(r.value.from, r.value.id);
      // Acked to the server only if a copy came through it (a session-delivered one was acked
      // end to end by the channel already).
      if (this.#serverCopies.delete(key)) this.#ack(r.value.id);
      yield r.value;
    }
  }

  /**
   * Ask the server for short-lived TURN credentials for its relay. Sent now if connected, else
   * after the next welcome. Rejects with a typed SignalingError: RELAY_UNAVAILABLE (the server
   * runs no relay), ABORTED, REQUEST_TIMEOUT, CONNECTION_CLOSED.
   */
  turnCredentials(o: TurnCredentialsRequestOptions = {}): Promise<TurnCredentialsResult> {
    if (this.#closed)
      return Promise.reject(
        new SignalingError(SignalingErrorCode.CONNECTION_CLOSED, 'peer is closed'),
      );
    if (o.signal?.aborted)
      return Promise.reject(new SignalingError(SignalingErrorCode.ABORTED, 'aborted'));
    const timeoutMs = o.timeoutMs ?? 10_000;
    if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0, got ${timeoutMs}`);
    const ref = (this.#refCounter++).toString(36);
    return this.#turn.request(ref, timeoutMs, o.signal);
  }

  /** Follow these peers' presence (`presence` events); replaces the previous list. */
  watch(peers: readonly string[]): void {
    for (const p of peers) if (!isPeerId(p)) throw new TypeError(`not a peer id: ${p}`);
    if (peers.length > LIMITS.maxWatchedPeers)
      throw new RangeError(`at most ${LIMITS.maxWatchedPeers} peers`);
    this.#watching = [...peers];
    this.#client.send({ type: 'watch', peers: this.#watching });
  }

  /** Send a rendezvous frame (candidates / punch / offer) for the punch layer; false if not connected. */
  sendSignal(m: Extract<ClientMessage, { type: 'candidates' | 'punch' | 'offer' }>): boolean {
    return this.#client.send(m);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#flushAcks();
    const err = new SignalingError(SignalingErrorCode.CONNECTION_CLOSED, 'peer closed');
    for (const p of [...this.#pending.values()]) this.#settle(p, err);
    this.#turn.failAll(err);
    const connectErr = this.#signal?.aborted
      ? new SignalingError(SignalingErrorCode.ABORTED, 'aborted while connecting')
      : err;
    for (const w of [...this.#connectWaiters]) w(connectErr);
    this.#keys.close(err);
    for (const l of this.#links.values()) l.close();
    this.#links.clear();
    await this.#punch.close();
    this.#queue.end();
    await this.#client.close();
  }

  /**
   * Rendezvous frames for the punch layer (CONTRACTS §4: `PunchSignaling.onSignal`); returns the
   * unsubscribe function.
   */
  onSignal(cb: (f: PunchSignalIn) => void): () => void {
    return this.#punch.onSignal(cb);
  }

  /**
   * Round trip to `peer` through its end-to-end session (authenticated ping/pong), and the path it
   * took: `server-routed` while only the server carries the session, then `relay` / `direct` as
   * the ladder moves up. The first ping includes the key lookup and the handshake.
   */
  async ping(
    peer: string,
    o: { timeoutMs?: number } = {},
  ): Promise<{ rttMs: number; path: DeliveryPath; firstFlight: boolean }> {
    if (!isPeerId(peer)) throw new TypeError(`not a peer id: ${peer}`);
    if (this.#closed)
      throw new SignalingError(SignalingErrorCode.CONNECTION_CLOSED, 'peer is closed');
    this.#noteContact(peer);
    const link = this.#linkFor(peer, true)!;
    await link.start();
    const rttMs = await link.ping(o.timeoutMs ?? 5_000);
    // A pong in a check's answer rode the first direct flight (its ping was the init's 0-RTT
    // data): direct, even though the path is adopted a moment later.
    const firstFlight = link.lastRxInCheck;
    return { rttMs, path: firstFlight ? 'direct' : linkDeliveryPath(link.path), firstFlight };
  }

  /** The session path to `peer` now, if a session exists. */
  sessionPath(peer: string): DeliveryPath | undefined {
    const l = this.#links.get(peer);
    return l ? linkDeliveryPath(l.path) : undefined;
  }

  /** Why the last attempt at a direct path to `peer` failed (undefined if none did). */
  lastPunchError(peer: string): string | undefined {
    return this.#links.get(peer)?.lastPunchError;
  }

  /**
   * Drop the UDP path to `peer` as if it had died (consent lost): the session falls back to the
   * server and re-punches later. For tests and diagnostics (`natpush ping` uses none of it).
   */
  dropPath(peer: string, reason?: string): void {
    this.#links.get(peer)?.dropPath(reason);
  }

  /** The session link to `peer`; created (bounded, LRU) when `create` and the peer is allowed. */
  #linkFor(peer: string, create: boolean): PeerLink | undefined {
    const l = this.#links.get(peer);
    if (l) {
      this.#links.delete(peer);
      this.#links.set(peer, l); // LRU order
      return l;
    }
    if (!create || this.#closed || peer === this.id) return undefined;
    while (this.#links.size >= MAX_LINKS) {
      const [oldest, link] = this.#links.entries().next().value!;
      this.#links.delete(oldest);
      link.close();
    }
    const link = new PeerLink({
      identity: this.identity,
      remote: peer,
      clock: this.#clock,
      logger: this.#logger,
      remoteKey: () => this.#keys.get(peer),
      sendP2p: (d) => this.#sendP2p(peer, d),
      connector: () => this.#punch.get(),
      onNotification: (n, path) => this.#onSessionNotification(peer, n, path),
      onPath: (e) =>
        this.emit('path', {
          peer,
          path: linkDeliveryPath(e.path),
          ...(e.reason ? { reason: e.reason } : {}),
        }),
      onPunch: (e) => this.emit('punch', { peer, ...e }),
      paused: () => this.#queue.length >= MAX_UNCONSUMED,
      handshakeInChecks: true,
    });
    this.#links.set(peer, link);
    if (this.#direct) this.#punch.warm(); // be ready for the other side's punch
    return link;
  }

  #sendP2p(to: string, d: Uint8Array): boolean {
    if (d.length > LIMITS.maxP2pDataBytes) return false; // the channel fragments below this
    return this.#sendFrame({ type: 'p2p', to, data: Buffer.from(d).toString('base64url') });
  }

  #onP2p(from: string, data: string): void {
    const d = Buffer.from(data, 'base64url');
    if (!isSessionDatagram(d)) return;
    const link = this.#linkFor(from, this.#contacts.allows(from));
    link?.handleServerDatagram(d);
  }

  #onSessionNotification(from: string, n: ChannelNotification, path: LinkPath): void {
    if (this.#dedupe.check(from, n.id)) return; // already here by another rung
    this.#noteContact(from);
    const ts = this.#clock.now();
    this.#queue.push({
      id: n.id,
      from,
      to: this.id,
      topic: n.topic ?? '',
      body: n.body,
      ts,
      expires: ts + LIMITS.defaultTtlSeconds * 1000,
      path: linkDeliveryPath(path),
    });
  }

  /** A punch the other side started: its path goes to the link (made if the peer is allowed). */
  #onIncomingPunch(peer: string, path: Promise<PunchedPath>): void {
    path.then(
      (p) => {
        const link = this.#linkFor(peer, this.#contacts.allows(peer));
        if (link) link.adopt(p);
        else p.close();
        this.emit('punch', {
          peer,
          ok: true,
          kind: p.kind,
          ...(p.rttMs !== undefined ? { rttMs: p.rttMs } : {}),
        });
      },
      (err: unknown) => this.emit('punch', { peer, ok: false, error: String(err) }),
    );
  }

  #firstWelcome(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const done = (e?: unknown) => {
        if (settled) return;
        settled = true;
        this.#connectWaiters.delete(done);
        this.#client.off('ready', onReady);
        this.#client.off('fatal', onFatal);
        signal?.removeEventListener('abort', onAbort);
        timer?.cancel();
        clearInterval(keepAlive);
        if (e) {
          void this.close();
          reject(e);
        } else resolve();
      };
      const onReady = () => done();
      const onFatal = (e: SignalingError) => done(e);
      const onAbort = () =>
        done(new SignalingError(SignalingErrorCode.ABORTED, 'aborted while connecting'));
      // The clock's timers never hold the process open, and a refused socket leaves nothing
      // that does: without this an awaited connect() would end the program silently (exit 0)
      // between two attempts (issue 8, finding 12). Released as soon as connect() settles.
      const keepAlive = setInterval(() => {}, 1 << 30);
      const t = this.#connectTimeoutMs;
      const timer =
        t === undefined
          ? undefined
          : this.#clock.setTimeout(() => {
              const last = this.#client.lastError;
              done(
                new SignalingError(
                  SignalingErrorCode.UNREACHABLE,
                  `cannot reach ${this.#server} within ${t} ms` +
                    (last ? ` (last attempt: ${last.message})` : ''),
                  last ? { cause: last } : undefined,
                ),
              );
            }, t);
      this.#connectWaiters.add(done);
      if (signal?.aborted) return onAbort();
      this.#client.once('ready', onReady);
      this.#client.once('fatal', onFatal);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (!this.#started) {
        this.#started = true;
        this.#client.start();
      }
    });
  }

  #onReady(w: Welcome): void {
    this.#welcomeTime = w.time;
    this.emit('connected', w);
    if (this.#watching.length > 0) this.#client.send({ type: 'watch', peers: this.#watching });
    // Resend everything not yet accepted; the id makes it idempotent on the server.
    this.#sendFrame(this.#contacts.frame());
    this.#keys.resend();
    for (const p of this.#pending.values()) if (!p.accepted && p.frame) this.#client.send(p.frame);
    for (const ref of this.#turn.refs()) this.#client.send({ type: 'turn-credentials', ref });
    this.#flushAcks();
    if (this.#warmDirect) this.#punch.warm(); // candidates ready before the first punch
    // A new connection: serve forgot our punch offer with the old one (a first connector
    // registers its own when its first gather ends).
    this.#punch.reconnected();
  }

  #onFatal(e: SignalingError): void {
    // Pending notifies and connect() report it; an 'error' listener is optional.
    if (this.listenerCount('error') > 0) this.emit('error', e);
    for (const p of [...this.#pending.values()]) this.#settle(p, e);
    this.#turn.failAll(e);
  }

  #onMessage(m: ServerMessage): void {
    switch (m.type) {
      case 'deliver':
        return this.#onDeliver(m.n);
      case 'accepted':
        return this.#onAccepted(m);
      case 'delivered':
        return this.#onDelivered(m);
      case 'presence':
        this.emit('presence', {
          peer: m.peer,
          online: m.online,
          ...(m.transport ? { transport: m.transport } : {}),
        });
        return;
      case 'candidates':
      case 'punch-start':
        this.emit('signal', m);
        this.#punch.deliver(m as PunchSignalIn); // kept while the punch layer is being made
        return;
      case 'p2p':
        return this.#onP2p(m.from, m.data);
      case 'key':
        this.#keys.answer(m.ref, m.peer, m.publicKey);
        return;
      case 'turn-credentials': {
        const { type: _type, ref, ...result } = m;
        return this.#turn.settle(ref, result);
      }
      case 'error':
        return this.#onError(m);
      default:
        return;
    }
  }

  #onDeliver(n: Notification): void {
    if (n.to !== this.id) return;
    const opened = this.#openDelivery(n);
    if (!opened) return this.#ack(n.id); // dropped for good: stop the server redelivering it
    const key = dedupeKey(n.from, n.id);
    const seen = this.#dedupe.check(n.from, n.id);
    if (seen === 'consumed') this.#ack(n.id);
    if (seen === 'queued') this.#serverCopies.add(key);
    if (seen) return;
    this.#serverCopies.add(key);
    // The server stamps `ts` when it accepts a notification: one accepted before this
    // connection's welcome waited in the mailbox for us.
    this.#queue.push({ ...opened, path: n.ts < this.#welcomeTime ? 'mailbox' : 'server-routed' });
  }

  /**
   * A peer's notification must be sealed to us by the peer the server names as `from`, with the
   * id the server routed (sealed-body.ts); anything else is dropped, counted and logged. An
   * app server's (HTTP API, `from` = `app:…`, never a peer id) passes as it is.
   */
  #openDelivery(n: Notification): Notification | undefined {
    if (!isPeerId(n.from)) return n;
    if (!isSealedBody(n.body)) return this.#drop('unsealed', n);
    let o: ReturnType<typeof openBody>;
    try {
      o = openBody(this.identity, n.body);
    } catch (err) {
      return this.#drop('unopenable', n, err);
    }
    if (o.senderPeerId !== n.from) return this.#drop('forged-sender', n);
    if (o.id !== n.id) return this.#drop('swapped-id', n);
    this.#keys.learn(n.from, o.senderPublicKey);
    this.#noteContact(n.from);
    return { ...n, topic: o.topic ?? '', body: o.body };
  }

  #drop(reason: DropReason, n: Notification, err?: unknown): undefined {
    this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + 1;
    this.#logger.warn('dropped a notification that does not open', {
      reason,
      from: n.from,
      id: n.id,
      ...(err ? { err: String(err) } : {}),
    });
    return undefined;
  }

  /** Remember a contact (default allow policy); the server learns the new list at once. */
  #noteContact(peer: string): void {
    if (this.#contacts.note(peer) && this.#client.ready) this.#sendFrame(this.#contacts.frame());
  }

  #sendFrame(m: ClientMessage): boolean {
    return this.#client.send(m);
  }

  #onAccepted(m: Extract<ServerMessage, { type: 'accepted' }>): void {
    const p = this.#pending.get(m.ref);
    if (!p || p.accepted) return;
    p.accepted = { online: m.online, duplicate: m.duplicate };
    const early = this.#earlyDelivered.get(m.id);
    if (early) {
      this.#earlyDelivered.delete(m.id);
      return this.#settle(p, 'server-routed', early);
    }
    if (!m.online || p.deliveryTimeoutMs <= 0) return this.#settle(p, 'mailbox');
    p.timer = this.#clock.setTimeout(() => this.#settle(p, 'mailbox'), p.deliveryTimeoutMs);
  }

  #onDelivered(m: Extract<ServerMessage, { type: 'delivered' }>): void {
    this.emit('delivered', { id: m.id, to: m.to, via: m.via });
    const p = this.#byId.get(m.id);
    if (!p) return;
    if (p.accepted) return this.#settle(p, 'server-routed', m.via);
    this.#earlyDelivered.set(m.id, m.via);
    if (this.#earlyDelivered.size > 4096)
      this.#earlyDelivered.delete(this.#earlyDelivered.keys().next().value!);
  }

  #onError(m: Extract<ServerMessage, { type: 'error' }>): void {
    const e = new SignalingError(m.code as SignalingErrorCode, m.message);
    const p = m.ref ? this.#pending.get(m.ref) : undefined;
    if (p) this.#settle(p, e);
    else if (m.ref && this.#turn.has(m.ref)) this.#turn.settle(m.ref, e);
    else if (m.ref && this.#keys.fail(m.ref, e)) return;
    else if (this.listenerCount('error') > 0) this.emit('error', e);
  }

  #settle(p: PendingNotify, outcome: DeliveryPath | Error, via?: Transport): void {
    if (this.#pending.get(p.ref) !== p) return;
    this.#pending.delete(p.ref);
    if (this.#byId.get(p.id) === p) this.#byId.delete(p.id);
    this.#earlyDelivered.delete(p.id);
    p.timer?.cancel();
    p.cleanup();
    if (outcome instanceof Error) return p.reject(outcome);
    const r: NotifyResult = {
      id: p.id,
      to: p.to,
      path: outcome,
      status: outcome === 'mailbox' ? 'stored' : 'delivered',
      ...(via ? { via } : {}),
      duplicate: p.accepted?.duplicate ?? false,
      elapsedMs: this.#clock.now() - p.started,
    };
    if (this.#paths.get(r.to) !== r.path) {
      this.#paths.set(r.to, r.path);
      this.emit('path', { peer: r.to, path: r.path });
    }
    p.resolve(r);
  }

  /** Acks are batched per event-loop turn into one frame of up to LIMITS.maxAckIds ids. */
  #ack(id: string): void {
    this.#acks.push(id);
    if (this.#ackScheduled) return;
    this.#ackScheduled = true;
    setImmediate(() => {
      this.#ackScheduled = false;
      this.#flushAcks();
    });
  }

  #flushAcks(): void {
    while (this.#acks.length > 0 && this.#client.ready) {
      const ids = this.#acks.slice(0, LIMITS.maxAckIds);
      if (!this.#client.send({ type: 'ack', ids })) return;
      this.#acks = this.#acks.slice(ids.length);
    }
    // Not connected: keep them; they are sent after the next welcome (and the server will have
    // redelivered them meanwhile, which the dedupe answers with an ack too).
    if (this.#acks.length > LIMITS.maxAckIds * 16)
      this.#acks = this.#acks.slice(-LIMITS.maxAckIds * 16);
  }
}

/** (sender, id) as one key for `#serverCopies` (the Dedupe keys the same pair its own way). */
function dedupeKey(from: string, id: string): string {
  return `${from} ${id}`;
}

function linkDeliveryPath(p: LinkPath): DeliveryPath {
  return p === 'server' ? 'server-routed' : p;
}
