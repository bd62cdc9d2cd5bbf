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
import { EventEmitter } from 'node:events';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import type { SignalingClient, Welcome } from '../signaling/client.js';
import { LIMITS } from '../signaling/constants.js';
import { SignalingError, SignalingErrorCode } from '../signaling/errors.js';
import { isPeerId, type Identity } from '../signaling/identity.js';
import type { ClientMessage, ServerMessage } from '../signaling/protocol.js';
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
import { FirstWelcome } from './first-welcome.js';
import { loadOrCreateIdentity } from './identity-file.js';
import { Inbox, linkDeliveryPath } from './inbox.js';
import { KeyDirectory } from './key-directory.js';
import { LinkTable } from './link-table.js';
import { Outbox } from './outbox.js';
import { peerSignalingClient } from './peer-client.js';
import type { PunchSignalIn } from '../punch/connector.js';
import { checkUdpIo, peerUdp } from './peer-udp.js';

export type * from './peer-types.js';

export { PEER_UDP_IO_DEFAULT } from './peer-udp.js';
export type { TurnCredentialsResult };

export class Peer extends EventEmitter<PeerEvents> {
  readonly identity: Identity;
  readonly #client: SignalingClient;
  readonly #clock: Clock;
  readonly #inbox: Inbox;
  readonly #outbox: Outbox;
  readonly #turn: TurnRequests;
  #refCounter = 0;
  #watching: string[] = [];
  #closed = false;
  readonly #firstWelcome: FirstWelcome;
  readonly #logger: Logger;
  readonly #keys: KeyDirectory;
  readonly #contacts: Contacts;
  readonly #links: LinkTable;
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
    this.#contacts = new Contacts(o.allow);
    this.#direct = o.direct !== false;
    this.#warmDirect = this.#direct && o.warmDirect !== false;
    this.#keys = new KeyDirectory({
      clock: this.#clock,
      request: (ref, peer) => this.#client.send({ type: 'key-request', ref, peer }),
    });
    this.#client = peerSignalingClient(o, this.identity, this.#clock);
    this.#inbox = new Inbox({
      identity: this.identity,
      clock: this.#clock,
      logger: this.#logger,
      dedupeCapacity: o.dedupeCapacity,
      learnKey: (peer, key) => this.#keys.learn(peer, key),
      noteContact: (peer) => this.#noteContact(peer),
      sendAck: (ids) => this.#client.send({ type: 'ack', ids }),
      connected: () => this.#client.ready,
      dropped: this.stats.dropped,
    });
    this.#outbox = new Outbox({
      nextRef: () => (this.#refCounter++).toString(36),
      identity: this.identity,
      clock: this.#clock,
      logger: this.#logger,
      direct: this.#direct,
      links: () => this.#links,
      remoteKey: (peer) => this.#keys.get(peer),
      sendFrame: (f) => this.#client.send(f),
      noteContact: (peer) => this.#noteContact(peer),
      onPath: (e) => this.emit('path', e),
    });
    this.#links = new LinkTable({
      identity: this.identity,
      clock: this.#clock,
      logger: this.#logger,
      direct: this.#direct,
      punch: () => this.#punch,
      remoteKey: (peer) => this.#keys.get(peer),
      sendP2p: (to, data) => this.#client.send({ type: 'p2p', to, data }),
      allows: (peer) => this.#contacts.allows(peer),
      onNotification: (from, n, path) => this.#inbox.fromSession(from, n, path),
      paused: () => this.#inbox.full,
      closed: () => this.#closed,
      emitPath: (e) => this.#outbox.path(e), // one stream with the notify results'
      emitPunch: (e) => this.emit('punch', e),
    });
    this.#turn = new TurnRequests({
      clock: this.#clock,
      nextRef: () => (this.#refCounter++).toString(36),
      send: (ref) => void this.#client.send({ type: 'turn-credentials', ref }),
    });
    this.#punch = new PunchLayer({
      enabled: this.#direct,
      peerId: this.identity.peerId,
      clock: this.#clock,
      logger: this.#logger,
      udp: peerUdp(o, this.#direct, this.#logger),
      ...(o.interfaces ? { interfaces: o.interfaces } : {}),
      turnCredentials: (r) => this.turnCredentials(r),
      welcomeTurn: () => this.#client.welcome?.turn,
      sendSignal: (f) => this.sendSignal(f),
      clockOffsetMs: () => this.clockOffsetMs,
      accept: (peer) => this.#contacts.allows(peer),
      onIncoming: (peer, path) => this.#links.onIncomingPunch(peer, path),
      // The Noise handshake in the punch's first checks (link-table.ts).
      handshakes: this.#links.handshakes(),
      closed: () => this.#closed,
      ...(o.portmap !== undefined && o.portmap !== true ? { portmap: o.portmap } : {}),
      ...(o.portPrediction === false ? { portPrediction: false } : {}),
    });
    this.#client.on('retry', (r) => this.emit('reconnecting', r));
    this.#client.on('ready', (w) => this.#onReady(w));
    this.#client.on('message', (m) => this.#onMessage(m));
    this.#client.on('disconnected', (e) => this.emit('disconnected', e));
    this.#client.on('fatal', (e) => this.#onFatal(e));
    this.#firstWelcome = new FirstWelcome({
      client: this.#client,
      clock: this.#clock,
      server: o.server,
      timeoutMs: o.connectTimeoutMs,
      signal: o.signal,
      onFail: () => void this.close(),
    });
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
    checkUdpIo(o.udpIo);
    return new Peer(o);
  }

  /** Resolves on the first `welcome` (at once if connected); rejects as `connect()` does. */
  ready(): Promise<void> {
    if (this.#client.ready) return Promise.resolve();
    if (this.#closed)
      return Promise.reject(
        new SignalingError(SignalingErrorCode.CONNECTION_CLOSED, 'peer is closed'),
      );
    return this.#firstWelcome.wait();
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
    return this.#outbox.notify(to, body, o, this.#closed);
  }

  /**
   * Notifications for this peer, each exactly once, in order per sender. A notification is acked
   * to the server when the loop takes it. `signal` ends the loop (not the peer).
   */
  notifications(o: { signal?: AbortSignal } = {}): AsyncGenerator<ReceivedNotification> {
    return this.#inbox.notifications(o);
  }

  /**
   * Ask the server for short-lived TURN credentials for its relay. Sent now if connected, else
   * after the next welcome. Rejects with a typed SignalingError: RELAY_UNAVAILABLE (the server
   * runs no relay), ABORTED, REQUEST_TIMEOUT, CONNECTION_CLOSED.
   */
  turnCredentials(o: TurnCredentialsRequestOptions = {}): Promise<TurnCredentialsResult> {
    return this.#turn.ask(o, this.#closed);
  }

  /** Follow these peers' presence (`presence` events); replaces the previous list. */
  watch(peers: readonly string[]): void {
    for (const p of peers) if (!isPeerId(p)) throw new TypeError(`not a peer id: ${p}`);
    if (peers.length > LIMITS.maxWatchedPeers)
      throw new RangeError(`at most ${LIMITS.maxWatchedPeers} peers`);
    this.#watching = [...peers];
    this.#client.send({ type: 'watch', peers: this.#watching });
  }

  /**
   * Send a rendezvous frame (candidates / punch / offer / punch-end) for the punch layer; false
   * if not connected. `punch-end` only to a serve whose welcome lists it (`frames`): an older
   * serve would refuse it as BAD_FRAME and close the connection.
   */
  sendSignal(
    m: Extract<ClientMessage, { type: 'candidates' | 'punch' | 'offer' | 'punch-end' }>,
  ): boolean {
    if (m.type === 'punch-end' && !this.#client.welcome?.frames?.includes('punch-end'))
      return false;
    return this.#client.send(m);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#inbox.flushAcks();
    const err = new SignalingError(SignalingErrorCode.CONNECTION_CLOSED, 'peer closed');
    this.#outbox.failAll(err);
    this.#turn.failAll(err);
    this.#firstWelcome.close(err);
    this.#keys.close(err);
    this.#links.closeAll();
    await this.#punch.close();
    this.#inbox.end();
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
    return this.#links.ping(peer, o.timeoutMs ?? 5_000);
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

  #onReady(w: Welcome): void {
    this.#inbox.welcomeTime = w.time;
    this.emit('connected', w);
    if (this.#watching.length > 0) this.#client.send({ type: 'watch', peers: this.#watching });
    // Resend everything not yet accepted; the id makes it idempotent on the server.
    this.#client.send(this.#contacts.frame());
    this.#keys.resend();
    for (const f of this.#outbox.unacceptedFrames()) this.#client.send(f);
    this.#turn.resend();
    this.#inbox.flushAcks();
    if (this.#warmDirect) this.#punch.warm(); // candidates ready before the first punch
    // A new connection: serve forgot our punch offer with the old one (a first connector
    // registers its own when its first gather ends).
    this.#punch.reconnected();
  }

  #onFatal(e: SignalingError): void {
    // Pending notifies and connect() report it; an 'error' listener is optional.
    if (this.listenerCount('error') > 0) this.emit('error', e);
    this.#outbox.failAll(e);
    this.#turn.failAll(e);
  }

  #onMessage(m: ServerMessage): void {
    switch (m.type) {
      case 'deliver':
        return this.#inbox.fromServer(m.n);
      case 'accepted':
        return this.#outbox.accepted(m);
      case 'delivered':
        this.emit('delivered', { id: m.id, to: m.to, via: m.via });
        return this.#outbox.delivered(m);
      case 'presence':
        this.emit('presence', {
          peer: m.peer,
          online: m.online,
          ...(m.transport ? { transport: m.transport } : {}),
        });
        return;
      case 'candidates':
      case 'punch-start':
      case 'punch-end':
        this.emit('signal', m);
        this.#punch.deliver(m as PunchSignalIn); // kept while the punch layer is being made
        return;
      case 'p2p':
        return this.#links.onP2p(m.from, m.data);
      case 'key':
        this.#keys.answer(m.ref, m.peer, m.publicKey);
        return;
      case 'turn-credentials':
        return this.#turn.answer(m);
      case 'error':
        return this.#onError(m);
      default:
        return;
    }
  }

  /** Remember a contact (default allow policy); the server learns the new list at once. */
  #noteContact(peer: string): void {
    if (this.#contacts.note(peer) && this.#client.ready) this.#client.send(this.#contacts.frame());
  }

  #onError(m: Extract<ServerMessage, { type: 'error' }>): void {
    const e = new SignalingError(m.code as SignalingErrorCode, m.message);
    // The request it answers (refs come from one counter), else the application's.
    if (m.ref && (this.#outbox.fail(m.ref, e) || this.#turn.fail(m.ref, e))) return;
    if (m.ref && this.#keys.fail(m.ref, e)) return;
    if (this.listenerCount('error') > 0) this.emit('error', e);
  }
}
