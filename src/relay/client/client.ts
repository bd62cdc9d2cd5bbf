/**
 * TURN client (RFC 8656 §6–§12): allocate, keep the allocation, permissions and channels alive,
 * and send/receive data through the relay — over the peer's shared UDP socket or over TCP.
 *
 *   client                                   server
 *     │── Allocate (no credentials) ─────────▶ │
 *     │◀──────────── 401 REALM, NONCE ──────── │   RFC 8489 §9.2.3
 *     │── Allocate USERNAME REALM NONCE MI ──▶ │
 *     │◀── XOR-RELAYED-ADDRESS, LIFETIME ───── │
 *     │── ChannelBind 0x4000 → peer ─────────▶ │   also installs the permission
 *     │══ ChannelData 0x4000 ════════════════▶ │ ──▶ peer
 *     │── Refresh every lifetime − 60 s ─────▶ │
 *
 * Background refreshes never throw: failures are logged and counted in `stats`, and a 438 (stale
 * nonce) is retried with the new nonce.
 *
 * Requests run on the STUN transaction engine (stun/transaction.ts): over UDP retransmitted on
 * the RFC 8489 §6.2.1 schedule (0, 500, 1500, 3500, 7500 ms), over TCP sent once (§6.2.2); either
 * way cut at `requestTimeoutMs` (10 s). At most TURN_CLIENT_MAX_PENDING requests are outstanding.
 */
import type { Endpoint } from '../../net/index.js';
import { normalizeAddress } from '../../net/index.js';
import type { StunMessage } from '../../stun/index.js';
import {
  Attr,
  decodeStunMessage,
  Method,
  readLifetime,
  readXorAddress,
  StunClass,
  StunMessageBuilder,
  TransportProtocol,
} from '../../stun/index.js';
import type { Clock } from '../../util/clock.js';
import { systemClock } from '../../util/clock.js';
import type { Logger } from '../../util/logger.js';
import { silentLogger } from '../../util/logger.js';
import { decodeChannelData, isChannelData } from '../channel-data.js';
import { allocateWithFallback } from './allocate-retry.js';
import { ClientChannels } from './client-channels.js';
import { connectTransport, type TurnClientTransport } from './client-transport.js';
import {
  CLOSE_DEALLOCATE_WAIT_MS,
  TURN_CLIENT_MAX_PENDING,
  type DataListener,
  type TurnClientCounters,
  type TurnClientOptions,
  type TurnClientStats,
} from './options.js';
import { Repeater } from './repeater.js';
import { safe, TurnRequests } from './requests.js';
import { allocationLoss, type RefreshKind } from './allocation-loss.js';
import {
  CHANNEL_LIFETIME_S,
  CLIENT_KEEPALIVE_S,
  CLIENT_REFRESH_MARGIN_S,
  PERMISSION_LIFETIME_S,
} from '../constants.js';
import { TURN_ERR, TurnClientError } from '../errors.js';

export { TURN_CLIENT_MAX_PENDING };
export type { DataListener, TurnClientOptions, TurnClientStats };

export class TurnClient {
  readonly #counters: TurnClientCounters = {
    refreshFailures: 0,
    staleNonceRetries: 0,
    received: 0,
    ignored: 0,
  };
  /** XOR-RELAYED-ADDRESS: where peers send to reach us. */
  relayedAddress: Endpoint = { address: '', port: 0 };
  /** XOR-MAPPED-ADDRESS: our address as the server saw it (a free server-reflexive candidate). */
  mappedAddress: Endpoint = { address: '', port: 0 };
  lifetimeSeconds = 0;
  readonly #o: TurnClientOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  #transport!: TurnClientTransport;
  #requests!: TurnRequests;
  readonly #listeners: DataListener[] = [];
  readonly #channels = new ClientChannels();
  readonly #repeater: Repeater;
  #closed = false;
  /** close() began: its failures are not a loss. */
  #closing = false;
  /** Clock time the allocation's lifetime ends unless refreshed. */
  #expiresAt = 0;
  #lost: string | undefined;
  readonly #lostListeners = new Set<(reason: string) => void>();

  private constructor(options: TurnClientOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? silentLogger;
    this.#repeater = new Repeater(
      this.#clock,
      () => this.#closed || this.#closing || this.#lost !== undefined,
      (what, err) => {
        this.#counters.refreshFailures++;
        this.#log.warn('turn refresh failed', { what, err: String(err) });
        // Permissions and channels fail too when the allocation is gone; the allocation's own
        // Refresh is the one that says so (RFC 8656 §7.3).
        if (what === 'allocation') this.#judge(err, 'scheduled');
      },
    );
  }

  /**
   * Open the transport and make an allocation; rejects with TurnClientError. Over UDP with
   * `tcpFallback`, a timeout (no answer at all) is followed by the same over TCP.
   */
  static allocate(options: TurnClientOptions): Promise<TurnClient> {
    return allocateWithFallback(options, async (o) => {
      const c = new TurnClient(o);
      await c.#open();
      try {
        await c.#allocate();
        return c;
      } catch (err) {
        await c.#transport.close();
        throw err;
      }
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Why the allocation is lost (see `onLost`), or undefined while it is believed alive. */
  get lost(): string | undefined {
    return this.#lost;
  }

  /**
   * Called once when the allocation is lost: a Refresh got 437, or no answer past its lifetime,
   * or the TCP connection closed (allocation-loss.ts). The client sends nothing useful after
   * that: its owner closes it and allocates again (on another relay of the fleet).
   */
  onLost(cb: (reason: string) => void): () => void {
    this.#lostListeners.add(cb);
    return () => this.#lostListeners.delete(cb);
  }

  /**
   * Refresh now, because something on the allocation stopped answering (a path's consent
   * checks): true if the server answered; a timeout, 437 or a closed connection reports the
   * allocation lost (`onLost`) and resolves false. Never rejects.
   */
  async probe(): Promise<boolean> {
    if (this.#closed || this.#closing || this.#lost) return false;
    try {
      await this.refresh(this.#o.lifetimeSeconds);
      return true;
    } catch (err) {
      this.#judge(err, 'probe');
      return this.#lost === undefined;
    }
  }

  /** A snapshot of the counters. */
  get stats(): TurnClientStats {
    const t = this.#requests.stats;
    return {
      ...this.#counters,
      requests: t.sent - t.retransmitted,
      retransmits: t.retransmitted,
      transactions: { ...t },
    };
  }

  /** How we reach the server: 'tcp' after a `tcpFallback` (its mappedAddress is then TCP's). */
  get transport(): 'udp' | 'tcp' {
    return this.#transport.kind;
  }

  /** The server holding the allocation (after any 300 Try Alternate). */
  get server(): Endpoint {
    return this.#o.server;
  }

  /** Our local transport address toward the server. */
  localAddress(): Endpoint {
    return this.#transport.local();
  }

  onData(listener: DataListener): () => void {
    this.#listeners.push(listener);
    return () => {
      const i = this.#listeners.indexOf(listener);
      if (i >= 0) this.#listeners.splice(i, 1);
    };
  }

  /** RFC 8656 §9: permit these peer IPs (ports do not matter); kept fresh every 240 s. */
  async createPermission(...peers: string[]): Promise<void> {
    if (peers.length === 0) throw new TypeError('createPermission needs at least one peer address');
    await this.#requests.authenticated(Method.CreatePermission, (r) => {
      for (const ip of peers) r.addXorAddress(Attr.XorPeerAddress, { address: ip, port: 0 });
    });
    for (const ip of peers) this.#channels.permissions.add(normalizeAddress(ip));
  }

  /**
   * RFC 8656 §11: bind a channel to `peer` (also installs its permission) so data goes as 4-byte
   * ChannelData headers instead of Send/Data indications. Re-binding is automatic every 540 s.
   */
  async bindChannel(peer: Endpoint): Promise<number> {
    const existing = this.#channels.toPeer(peer);
    if (existing) return existing.number;
    const number = this.#channels.take();
    await this.#sendChannelBind(number, peer);
    this.#channels.bound(number, peer);
    return number;
  }

  /** Send `data` to `peer` through the relay: ChannelData if a channel is bound, else a Send indication. */
  send(peer: Endpoint, data: Uint8Array): void {
    if (this.#closed) throw new TypeError('send on a closed TurnClient');
    this.#transport.send(this.#channels.frame(peer, data, this.#transport.stream));
  }

  /** RFC 8656 §7.3: refresh now with `lifetimeSeconds` (0 deletes the allocation). */
  async refresh(lifetimeSeconds?: number): Promise<number> {
    const res = await this.#requests.authenticated(Method.Refresh, (b) => {
      if (lifetimeSeconds !== undefined) b.addUint32(Attr.Lifetime, lifetimeSeconds);
    });
    this.lifetimeSeconds = readLifetime(res) ?? 0;
    this.#expiresAt = this.#clock.now() + this.lifetimeSeconds * 1000;
    return this.lifetimeSeconds;
  }

  /** Delete the allocation (Refresh 0, best effort) and stop; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closing = true;
    this.#repeater.cancel();
    // A lost allocation has nothing to delete (and its server may be dead: no 2 s wait).
    if (!this.#transport.closed && !this.#lost) {
      // RFC 8656 §7: a Refresh with lifetime 0 deletes the allocation. Best effort and bounded:
      // if the server does not answer soon the allocation expires on its own, and a close must
      // not hang for a request's full retransmission budget (10 s) on a lossy or busy path.
      let timer: { cancel(): void } | undefined;
      const bounded = new Promise<void>((resolve) => {
        timer = this.#clock.setTimeout(resolve, CLOSE_DEALLOCATE_WAIT_MS);
      });
      await Promise.race([this.refresh(0).catch(() => {}), bounded]);
      timer?.cancel();
    }
    this.#closed = true;
    this.#requests.close(new TurnClientError(TURN_ERR.CLOSED, 'TURN client closed'));
    await this.#transport.close();
  }

  // ─── setup ───────────────────────────────────────────────────────────────────────────────

  async #open(): Promise<void> {
    this.#transport = await connectTransport(
      this.#o,
      this.#clock,
      (f) => this.#onFrame(f),
      () => this.#onTransportClosed(),
    );
    this.#requests = new TurnRequests({
      server: this.#o.server,
      username: this.#o.username,
      password: this.#o.password,
      transport: this.#transport,
      clock: this.#clock,
      logger: this.#log,
      requestTimeoutMs: this.#o.requestTimeoutMs,
      maxPending: this.#o.maxPending ?? TURN_CLIENT_MAX_PENDING,
      onStaleNonce: () => this.#counters.staleNonceRetries++,
    });
  }

  async #allocate(): Promise<void> {
    const res = await this.#requests.authenticated(Method.Allocate, (b) => {
      b.addRequestedTransport(TransportProtocol.UDP);
      if (this.#o.lifetimeSeconds !== undefined)
        b.addUint32(Attr.Lifetime, this.#o.lifetimeSeconds);
    });
    const relayed = readXorAddress(res, Attr.XorRelayedAddress);
    const mapped = readXorAddress(res, Attr.XorMappedAddress);
    if (!relayed)
      throw new TurnClientError(TURN_ERR.PROTOCOL, 'Allocate success without XOR-RELAYED-ADDRESS');
    this.relayedAddress = relayed;
    if (mapped) this.mappedAddress = mapped;
    this.lifetimeSeconds = readLifetime(res) ?? 600;
    this.#expiresAt = this.#clock.now() + this.lifetimeSeconds * 1000;
    this.#scheduleRefreshes();
  }

  /** Keep the allocation, permissions and channels alive (RFC 8656 §7.3, §9, §12). */
  #scheduleRefreshes(): void {
    const every = this.#repeater.every.bind(this.#repeater);
    const allocationEvery = Math.max(1, this.lifetimeSeconds - CLIENT_REFRESH_MARGIN_S);
    every(allocationEvery, 'allocation', () => this.refresh(this.#o.lifetimeSeconds));
    every(PERMISSION_LIFETIME_S - CLIENT_REFRESH_MARGIN_S, 'permissions', () =>
      this.#refreshPermissions(),
    );
    every(CHANNEL_LIFETIME_S - CLIENT_REFRESH_MARGIN_S, 'channels', () => this.#refreshChannels());
    if (!this.#transport.stream) every(CLIENT_KEEPALIVE_S, 'keepalive', () => this.#keepalive());
  }

  /** RFC 8489 §6.3.2 / RFC 5389: a Binding indication needs no answer; it only keeps the NAT open. */
  #keepalive(): Promise<void> {
    this.#transport.send(StunMessageBuilder.of(Method.Binding, StunClass.Indication).build());
    return Promise.resolve();
  }

  async #refreshPermissions(): Promise<void> {
    const ips = [...this.#channels.permissions];
    if (ips.length > 0) await this.createPermission(...ips);
  }

  async #refreshChannels(): Promise<void> {
    for (const ch of this.#channels.all()) await this.#sendChannelBind(ch.number, ch.peer);
  }

  async #sendChannelBind(number: number, peer: Endpoint): Promise<void> {
    await this.#requests.authenticated(Method.ChannelBind, (b) =>
      b.addChannelNumber(number).addXorAddress(Attr.XorPeerAddress, peer),
    );
  }

  // ─── receiving ───────────────────────────────────────────────────────────────────────────

  #onFrame(frame: Uint8Array): void {
    if (isChannelData(frame)) {
      const cd = decodeChannelData(frame);
      const ch = cd && this.#channels.byNumber(cd.channel);
      if (!cd || !ch) return void this.#counters.ignored++;
      return this.#emit(cd.payload, ch.peer);
    }
    if (this.#requests.handle(frame)) return;
    let msg: StunMessage;
    try {
      msg = decodeStunMessage(frame);
    } catch {
      return void this.#counters.ignored++;
    }
    if (msg.cls === StunClass.Indication && msg.method === Method.Data) {
      const peer = safe(() => readXorAddress(msg, Attr.XorPeerAddress));
      const data = msg.get(Attr.Data);
      if (!peer || !data) return void this.#counters.ignored++;
      return this.#emit(data, peer);
    }
    this.#counters.ignored++; // a late or unknown response (counted by the engine too), a request
  }

  #emit(data: Uint8Array, from: Endpoint): void {
    this.#counters.received++;
    for (const l of this.#listeners) {
      try {
        l(data, from);
      } catch (err) {
        this.#log.error('turn data listener threw', { err: String(err) });
      }
    }
  }

  #onTransportClosed(): void {
    const err = new TurnClientError(TURN_ERR.CLOSED, 'TURN connection closed');
    this.#requests.failAll(err);
    this.#judge(err, 'scheduled');
  }

  /** A failed Refresh: report the allocation lost, once, when the failure says it is. */
  #judge(err: unknown, kind: RefreshKind): void {
    if (this.#closing || this.#closed || this.#lost) return;
    const reason = allocationLoss(err, kind, this.#clock.now(), this.#expiresAt);
    if (!reason) return;
    this.#lost = reason;
    this.#repeater.cancel();
    this.#log.info('turn allocation lost', {
      server: `${this.server.address}:${this.server.port}`,
      reason,
    });
    for (const l of [...this.#lostListeners]) {
      try {
        l(reason);
      } catch (err) {
        this.#log.error('turn lost listener threw', { err: String(err) });
      }
    }
  }
}
