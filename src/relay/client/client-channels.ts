/**
 * The TURN client's permissions and channels (RFC 8656 §9, §11–§12): which peer IPs it keeps
 * permitted, which channel number is bound to which peer, and how data for a peer is framed —
 * ChannelData on its channel, else a Send indication (§11.1).
 */
import type { Endpoint } from '../../net/index.js';
import { normalizeAddress } from '../../net/index.js';
import { Attr, messageType, Method, StunClass, StunMessageBuilder } from '../../stun/index.js';
import { channelDataSize, writeChannelData } from '../channel-data.js';
import { CHANNEL_MAX, CHANNEL_MIN } from '../constants.js';
import { EndpointMap } from '../five-tuple.js';

export interface ClientChannel {
  readonly number: number;
  readonly peer: Endpoint;
}

/** RFC 8656 §11.1: Send indication, computed once. */
const SEND_INDICATION = messageType(Method.Send, StunClass.Indication);

export class ClientChannels {
  /** Peer IPs we keep permissions for (normalized). Bounded by the server's per-allocation
   *  permission cap: a CreatePermission beyond it fails before its IPs are added. */
  readonly permissions = new Set<string>();
  /** Bound channels; at most CHANNEL_MAX − CHANNEL_MIN + 1 (4096) by their numbers. */
  readonly #byNumber = new Map<number, ClientChannel>();
  readonly #byPeer = new EndpointMap<ClientChannel>();
  #next = CHANNEL_MIN;

  /** The channel bound to `peer`, if any. */
  toPeer(peer: Endpoint): ClientChannel | undefined {
    return this.#byPeer.get(normalizeAddress(peer.address), peer.port);
  }

  /** The peer of channel `number`, if bound. */
  byNumber(number: number): ClientChannel | undefined {
    return this.#byNumber.get(number);
  }

  /** Every bound channel (refreshed together every 540 s). */
  all(): IterableIterator<ClientChannel> {
    return this.#byNumber.values();
  }

  /** The next channel number, taken now (a ChannelBind that fails leaves it unused). */
  take(): number {
    if (this.#next > CHANNEL_MAX) throw new RangeError('all 4096 channel numbers used');
    return this.#next++;
  }

  /** Record channel `number` as bound to `peer` (and its permission, which binding installs). */
  bound(number: number, peer: Endpoint): void {
    const ch: ClientChannel = {
      number,
      peer: { address: normalizeAddress(peer.address), port: peer.port },
    };
    this.#byNumber.set(number, ch);
    this.#byPeer.set(ch.peer.address, ch.peer.port, ch);
    this.permissions.add(ch.peer.address);
  }

  /** `data` for `peer` as the relay takes it: ChannelData on its channel, else a Send indication. */
  frame(peer: Endpoint, data: Uint8Array, stream: boolean): Uint8Array {
    const ch = this.toPeer(peer);
    if (ch) {
      const out = Buffer.allocUnsafe(channelDataSize(data.length, stream));
      writeChannelData(out, 0, ch.number, data, stream);
      return out;
    }
    return new StunMessageBuilder(SEND_INDICATION, undefined, data.length + 48)
      .addXorAddress(Attr.XorPeerAddress, peer)
      .addBytes(Attr.Data, data)
      .build();
  }
}
