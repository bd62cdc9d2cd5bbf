/**
 * One allocation's state (RFC 8656 §3, §9, §12), pure: times are numbers from the injected clock
 * and nothing here touches a socket. The server attaches the relayed socket.
 *
 * Bounded: at most `maxPermissions` permissions and `maxChannels` channel bindings (expired ones
 * are swept), so a client cannot grow the server's memory without limit. A refusal is returned
 * as an error reply (reply.ts), which the handler passes on.
 */
import {
  CHANNEL_LIFETIME_S,
  CHANNEL_REUSE_GUARD_S,
  DEFAULT_MAX_CHANNELS_PER_ALLOCATION,
  DEFAULT_MAX_PERMISSIONS_PER_ALLOCATION,
  PERMISSION_LIFETIME_S,
} from '../constants.js';
import { TurnErrorCode } from '../errors.js';
import { isValidChannelNumber } from '../channel-data.js';
import type { FiveTuple, TransportAddress } from '../five-tuple.js';
import { EndpointMap } from '../five-tuple.js';
import { error, type ErrorReply } from './reply.js';

export interface Channel {
  readonly number: number;
  /** The peer, kept as one object so the hot path sends to it without allocating. */
  readonly peer: TransportAddress;
  /** Data flows while now < expiresAt; the entry blocks re-use until expiresAt + 5 min (§12). */
  expiresAt: number;
}

export interface AllocationLimits {
  maxPermissions: number;
  maxChannels: number;
}

export const DEFAULT_ALLOCATION_LIMITS: AllocationLimits = {
  maxPermissions: DEFAULT_MAX_PERMISSIONS_PER_ALLOCATION,
  maxChannels: DEFAULT_MAX_CHANNELS_PER_ALLOCATION,
};

export class Allocation {
  readonly fiveTuple: FiveTuple;
  /** USERNAME, the user a quota counts against, realm and HMAC key of the allocating request. */
  readonly username: string;
  readonly user: string;
  readonly key: Uint8Array;
  /** Transaction id of the Allocate request, for retransmissions (§7.2 step 1). */
  readonly allocateTransactionId: string;
  expiresAt: number;
  readonly #limits: AllocationLimits;
  /** Peer IP → permission expiry (permissions ignore the port, §9). */
  readonly permissions = new Map<string, number>();
  readonly #channelsByNumber = new Map<number, Channel>();
  readonly #channelsByPeer = new EndpointMap<Channel>();

  constructor(init: {
    fiveTuple: FiveTuple;
    username: string;
    user: string;
    key: Uint8Array;
    allocateTransactionId: string;
    lifetimeS: number;
    now: number;
    limits?: AllocationLimits;
  }) {
    this.fiveTuple = init.fiveTuple;
    this.username = init.username;
    this.user = init.user;
    this.key = init.key;
    this.allocateTransactionId = init.allocateTransactionId;
    this.expiresAt = init.now + init.lifetimeS * 1000;
    this.#limits = init.limits ?? DEFAULT_ALLOCATION_LIMITS;
  }

  isExpired(now: number): boolean {
    return now >= this.expiresAt;
  }

  /** §7.3: Refresh sets the new lifetime; 0 deletes (the caller removes the allocation). */
  refresh(lifetimeS: number, now: number): void {
    this.expiresAt = now + lifetimeS * 1000;
  }

  /** §9: install or refresh a permission for `ip` (port ignored). 508 when the table is full. */
  installPermission(ip: string, now: number): ErrorReply | undefined {
    if (!this.permissions.has(ip) && this.permissions.size >= this.#limits.maxPermissions) {
      this.#sweepPermissions(now);
      if (this.permissions.size >= this.#limits.maxPermissions) {
        return error(TurnErrorCode.InsufficientCapacity, 'too many permissions');
      }
    }
    this.permissions.set(ip, now + PERMISSION_LIFETIME_S * 1000);
    return undefined;
  }

  hasPermission(ip: string, now: number): boolean {
    const exp = this.permissions.get(ip);
    return exp !== undefined && now < exp;
  }

  /**
   * §11.2 ChannelBind rules: the number must be in 0x4000–0x4FFF, must not be bound to another
   * peer, and the peer must not be bound to another number — including bindings that expired less
   * than 5 minutes ago (§12). Re-binding the same pair refreshes it. Also installs the permission.
   */
  bindChannel(number: number, peer: TransportAddress, now: number): Channel | ErrorReply {
    if (!isValidChannelNumber(number)) {
      return error(TurnErrorCode.BadRequest, 'channel number out of range');
    }
    this.#sweepChannels(now);
    const byNumber = this.#channelsByNumber.get(number);
    const byPeer = this.#channelsByPeer.get(peer.address, peer.port);
    if (byNumber !== byPeer) {
      return error(
        TurnErrorCode.BadRequest,
        byNumber ? 'channel bound to another peer' : 'peer bound to another channel',
      );
    }
    let ch = byNumber;
    if (!ch) {
      if (this.#channelsByNumber.size >= this.#limits.maxChannels) {
        return error(TurnErrorCode.InsufficientCapacity, 'too many channels');
      }
      ch = { number, peer: { address: peer.address, port: peer.port }, expiresAt: 0 };
    }
    // Install the permission first: if it fails (508) the binding is not half-made.
    const refused = this.installPermission(peer.address, now);
    if (refused !== undefined) return refused;
    ch.expiresAt = now + CHANNEL_LIFETIME_S * 1000;
    this.#channelsByNumber.set(number, ch);
    this.#channelsByPeer.set(ch.peer.address, ch.peer.port, ch);
    return ch;
  }

  /** The live channel with this number, for ChannelData from the client. */
  channelByNumber(number: number, now: number): Channel | undefined {
    const ch = this.#channelsByNumber.get(number);
    return ch !== undefined && now < ch.expiresAt ? ch : undefined;
  }

  /** The live channel bound to this peer, for data from the peer (§11.3 → ChannelData). */
  channelByPeer(address: string, port: number, now: number): Channel | undefined {
    const ch = this.#channelsByPeer.get(address, port);
    return ch !== undefined && now < ch.expiresAt ? ch : undefined;
  }

  /** Every channel binding held (live or in its re-use guard). */
  channels(): IterableIterator<Channel> {
    return this.#channelsByNumber.values();
  }

  get channelCount(): number {
    return this.#channelsByNumber.size;
  }

  /** Drop expired permissions and channel bindings past their re-use guard. */
  sweep(now: number): void {
    this.#sweepPermissions(now);
    this.#sweepChannels(now);
  }

  #sweepPermissions(now: number): void {
    for (const [ip, exp] of this.permissions) if (now >= exp) this.permissions.delete(ip);
  }

  #sweepChannels(now: number): void {
    const guardMs = CHANNEL_REUSE_GUARD_S * 1000;
    for (const [n, ch] of this.#channelsByNumber) {
      if (now >= ch.expiresAt + guardMs) {
        this.#channelsByNumber.delete(n);
        this.#channelsByPeer.delete(ch.peer.address, ch.peer.port);
      }
    }
  }
}
