/**
 * The per-packet path (RFC 8656 §11–§12): ChannelData and Send indications from the client to
 * the peer, and the peer's datagrams back as ChannelData (bound channel) or Data indication.
 *
 * No STUN parsing on ChannelData, lookups keyed by address string and port number (no key
 * strings built), one clock reading per packet, one output buffer per packet peer → client and
 * none client → peer (the payload is a view of the received datagram).
 *
 * A packet for one of our own relayed transport addresses (both peers on this relay, the usual
 * WebRTC case) is handed to that allocation in-process, as if it had arrived on its relayed
 * socket from our sender's relayed transport address: the same checks and counters, without a
 * send and a receive through the kernel (measured: ~45 % of the CPU of such a packet). The source
 * the receiver sees is the XOR-RELAYED-ADDRESS it was given, also behind a 1:1 NAT. When the
 * packet came as ChannelData in a UDP datagram of its own and goes out as ChannelData over UDP,
 * the received datagram itself is sent on with the receiver's channel number written over the
 * sender's: no buffer, no copy (the listener owns each datagram it is handed: node:dgram and
 * MemoryNetwork give every one a buffer of its own; a TCP frame may be a view of the stream's
 * buffer and is never rewritten).
 */
import type { Endpoint } from '../../net/index.js';
import { Attr, Method, messageType, StunClass, StunMessageBuilder } from '../../stun/index.js';
import type { Clock } from '../../util/clock.js';
import {
  channelDataPayloadLength,
  channelDataSize,
  channelOf,
  CHANNEL_DATA_HEADER_BYTES,
  writeChannelData,
} from '../channel-data.js';
import type { DropReason, RelayCounters } from '../counters.js';
import type { TokenBucket } from './quota.js';
import type { AllocationRegistry, LiveAllocation } from './registry.js';
import type { SiblingAllocation, SiblingTable } from './siblings.js';

/** RFC 8656 §11.4: Data indication, computed once for the peer → client path. */
const DATA_INDICATION = messageType(Method.Data, StunClass.Indication);

export class DataPath {
  readonly #counters: RelayCounters;
  readonly #clock: Clock;
  /** The whole server's relayed bytes/s (0 = unlimited). */
  readonly #total: TokenBucket;
  readonly #registry: AllocationRegistry;
  /** The other workers' allocations on our shared port, and our listener's send (siblings.ts). */
  #siblings: SiblingTable | undefined;
  #sendToClient: ((bytes: Uint8Array, to: Endpoint) => void) | undefined;

  constructor(
    counters: RelayCounters,
    clock: Clock,
    total: TokenBucket,
    registry: AllocationRegistry,
  ) {
    this.#counters = counters;
    this.#clock = clock;
    this.#total = total;
    this.#registry = registry;
  }

  /** Hand packets for the other workers' clients over directly (siblings.ts). */
  useSiblings(table: SiblingTable, sendToClient: (bytes: Uint8Array, to: Endpoint) => void): void {
    this.#siblings = table;
    this.#sendToClient = sendToClient;
  }

  /**
   * RFC 8656 §12.5: ChannelData from the client → UDP datagram to the bound peer. `owned`: `data`
   * is a UDP datagram this path may rewrite and send on (see the file comment).
   */
  fromClient(a: LiveAllocation | undefined, data: Uint8Array, owned = false): void {
    const now = this.#clock.now();
    if (a === undefined || now >= a.state.expiresAt) return this.#counters.drop('no-allocation');
    const len = channelDataPayloadLength(data);
    if (len < 0) return this.#counters.drop('bad-length');
    const ch = a.state.channelByNumber(channelOf(data), now);
    if (ch === undefined) return this.#counters.drop('no-channel');
    if (!a.state.hasPermission(ch.peer.address, now)) return this.#counters.drop('no-permission');
    const refused = this.#charge(a, len, now);
    if (refused !== undefined) return this.#counters.drop(refused);
    const payload = data.subarray(CHANNEL_DATA_HEADER_BYTES, CHANNEL_DATA_HEADER_BYTES + len);
    this.#send(a, payload, ch.peer as Endpoint, now, owned ? data : undefined);
  }

  /** RFC 8656 §11.2: a Send indication's DATA to its peer, permission already checked. */
  toPeer(a: LiveAllocation, data: Uint8Array, peer: Endpoint, now: number): void {
    const refused = this.#charge(a, data.length, now);
    if (refused !== undefined) return this.#counters.drop(refused);
    this.#send(a, data, peer, now, undefined);
  }

  /** Out of `a`'s relayed transport address to `peer`: in-process when `peer` is ours. */
  #send(
    a: LiveAllocation,
    payload: Uint8Array,
    peer: Endpoint,
    now: number,
    frame: Uint8Array | undefined,
  ): void {
    this.#counters.toPeerPackets++;
    this.#counters.toPeerBytes += payload.length;
    const local = this.#registry.relayedAt(peer.address, peer.port);
    if (local === undefined) {
      const sibling = this.#siblings?.at(peer.address, peer.port);
      if (sibling !== undefined && this.#toSibling(sibling, payload, a.relayed, now, frame)) return;
      return a.relay.send(payload, peer);
    }
    if (now >= local.state.expiresAt) return this.#counters.drop('no-allocation');
    this.#toClient(local, payload, a.relayed, now, frame);
  }

  /** RFC 8656 §11.3 / §12.5: a datagram from a peer → ChannelData or Data indication. */
  fromPeer(a: LiveAllocation, data: Uint8Array, from: Endpoint): void {
    this.#toClient(a, data, from, this.#clock.now(), undefined);
  }

  /** `frame`: the ChannelData datagram `data` came in, to send on rewritten (or undefined). */
  #toClient(
    a: LiveAllocation,
    data: Uint8Array,
    from: Endpoint,
    now: number,
    frame: Uint8Array | undefined,
  ): void {
    const s = a.state;
    if (!s.hasPermission(from.address, now)) return this.#counters.drop('no-permission');
    const refused = this.#charge(a, data.length, now);
    if (refused !== undefined) return this.#counters.drop(refused);
    const ch = s.channelByPeer(from.address, from.port, now);
    let out: Uint8Array;
    if (ch !== undefined && frame !== undefined && !a.link.stream) {
      // Same length field, same payload: only the channel number differs (§12.4). Padding the
      // sender may have added (optional over UDP, §12.5) is left off.
      frame[0] = ch.number >>> 8;
      frame[1] = ch.number & 0xff;
      const size = CHANNEL_DATA_HEADER_BYTES + data.length;
      out = frame.length === size ? frame : frame.subarray(0, size);
    } else if (ch !== undefined) {
      out = Buffer.allocUnsafe(channelDataSize(data.length, a.link.stream));
      writeChannelData(out, 0, ch.number, data, a.link.stream);
    } else {
      out = new StunMessageBuilder(DATA_INDICATION, undefined, data.length + 48)
        .addXorAddress(Attr.XorPeerAddress, from)
        .addBytes(Attr.Data, data)
        .build();
    }
    if (!a.link.send(out)) return this.#counters.drop('backpressure');
    this.#counters.toClientPackets++;
    this.#counters.toClientBytes += data.length;
  }

  /**
   * What the sibling worker's #toClient would do with `data` arriving on its relayed socket from
   * `from`, done here and sent from our socket on the shared port (siblings.ts). Only when the
   * mirror shows the allocation alive with a live permission and channel for `from`; otherwise
   * false, and the packet takes the kernel path to the sibling, which judges it by its own state
   * (a mirror may lag a new permission or binding by an IPC hop; it never lags an expiry). The
   * receiving user's bandwidth bucket lives in the sibling: workers get mirrors only without
   * per-user caps (create-relay.ts); the whole server's cap is charged here.
   */
  #toSibling(
    s: SiblingAllocation,
    data: Uint8Array,
    from: Endpoint,
    now: number,
    frame: Uint8Array | undefined,
  ): boolean {
    if (now >= s.expiresAt) return false;
    const permitted = s.permissions.get(from.address);
    if (permitted === undefined || now >= permitted) return false;
    const ch = s.channels.get(from.address, from.port);
    if (ch === undefined || now >= ch.expiresAt) return false;
    if (!this.#total.take(data.length, now)) {
      this.#counters.drop('total-bandwidth');
      return true;
    }
    let out: Uint8Array;
    if (frame !== undefined) {
      frame[0] = ch.number >>> 8;
      frame[1] = ch.number & 0xff;
      const size = CHANNEL_DATA_HEADER_BYTES + data.length;
      out = frame.length === size ? frame : frame.subarray(0, size);
    } else {
      out = Buffer.allocUnsafe(channelDataSize(data.length, false));
      writeChannelData(out, 0, ch.number, data, false);
    }
    this.#sendToClient!(out, s.client);
    this.#counters.toClientPackets++;
    this.#counters.toClientBytes += data.length;
    this.#counters.toSiblingClientPackets++;
    return true;
  }

  /** The user's and the whole server's bandwidth, both directions. */
  #charge(a: LiveAllocation, bytes: number, now: number): DropReason | undefined {
    if (!a.usage.bandwidth.take(bytes, now)) return 'bandwidth';
    if (!this.#total.take(bytes, now)) return 'total-bandwidth';
    return undefined;
  }
}
