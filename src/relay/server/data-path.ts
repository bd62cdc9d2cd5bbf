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
import type { Clock } from '../../util/clock.js';
import {
  channelDataPayloadLength,
  channelDataSize,
  channelOf,
  CHANNEL_DATA_HEADER_BYTES,
  writeChannelData,
} from '../channel-data.js';
import type { DropReason, RelayCounters } from '../counters.js';
import { encodeDataIndication, PeerAddressCache } from '../data-indication.js';
import type { TokenBucket } from './quota.js';
import type { AllocationRegistry, LiveAllocation } from './registry.js';
import type { SiblingAllocation, SiblingTable } from './siblings.js';

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
    this.#send(a, data, CHANNEL_DATA_HEADER_BYTES, len, ch.peer as Endpoint, now, owned);
  }

  /** RFC 8656 §11.2: a Send indication's DATA to its peer, permission already checked. */
  toPeer(a: LiveAllocation, data: Uint8Array, peer: Endpoint, now: number): void {
    const refused = this.#charge(a, data.length, now);
    if (refused !== undefined) return this.#counters.drop(refused);
    this.#send(a, data, 0, data.length, peer, now, false);
  }

  /**
   * Out of `a`'s relayed transport address to `peer`: in-process when `peer` is ours. The payload
   * is `len` bytes of `buf` from `start`; `frame`: `buf` is a ChannelData datagram (start 4) this
   * path may rewrite and send on. A view of the payload is made only where it is sent as is.
   */
  #send(
    a: LiveAllocation,
    buf: Uint8Array,
    start: number,
    len: number,
    peer: Endpoint,
    now: number,
    frame: boolean,
  ): void {
    this.#counters.toPeerPackets++;
    this.#counters.toPeerBytes += len;
    const local = this.#registry.relayedAt(peer.address, peer.port);
    if (local === undefined) {
      const sibling = this.#siblings?.at(peer.address, peer.port);
      if (sibling !== undefined && this.#toSibling(sibling, buf, start, len, a.relayed, now, frame))
        return;
      return a.relay.send(view(buf, start, len), peer);
    }
    if (now >= local.state.expiresAt) return this.#counters.drop('no-allocation');
    this.#toClient(local, buf, start, len, a.relayed, now, frame);
  }

  /** RFC 8656 §11.3 / §12.5: a datagram from a peer → ChannelData or Data indication. */
  fromPeer(a: LiveAllocation, data: Uint8Array, from: Endpoint): void {
    this.#toClient(a, data, 0, data.length, from, this.#clock.now(), false);
  }

  /** The payload is `len` bytes of `buf` from `start`; `frame` as in #send. */
  #toClient(
    a: LiveAllocation,
    buf: Uint8Array,
    start: number,
    len: number,
    from: Endpoint,
    now: number,
    frame: boolean,
  ): void {
    const s = a.state;
    if (!s.hasPermission(from.address, now)) return this.#counters.drop('no-permission');
    const refused = this.#charge(a, len, now);
    if (refused !== undefined) return this.#counters.drop(refused);
    const ch = s.channelByPeer(from.address, from.port, now);
    const stream = a.link.stream;
    let out: Uint8Array;
    if (ch !== undefined && frame && !stream) {
      out = rewritten(buf, ch.number, len);
    } else if (ch !== undefined) {
      out = Buffer.allocUnsafe(channelDataSize(len, stream));
      writeChannelData(out, 0, ch.number, view(buf, start, len), stream);
    } else {
      out = encodeDataIndication(
        from,
        view(buf, start, len),
        (a.peerAddress ??= new PeerAddressCache()),
      );
    }
    if (!a.link.send(out)) return this.#counters.drop('backpressure');
    this.#counters.toClientPackets++;
    this.#counters.toClientBytes += len;
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
    buf: Uint8Array,
    start: number,
    len: number,
    from: Endpoint,
    now: number,
    frame: boolean,
  ): boolean {
    if (now >= s.expiresAt) return false;
    const permitted = s.permissions.get(from.address);
    if (permitted === undefined || now >= permitted) return false;
    const ch = s.channels.get(from.address, from.port);
    if (ch === undefined || now >= ch.expiresAt) return false;
    if (!this.#total.take(len, now)) {
      this.#counters.drop('total-bandwidth');
      return true;
    }
    let out: Uint8Array;
    if (frame) {
      out = rewritten(buf, ch.number, len);
    } else {
      out = Buffer.allocUnsafe(channelDataSize(len, false));
      writeChannelData(out, 0, ch.number, view(buf, start, len), false);
    }
    this.#sendToClient!(out, s.client);
    this.#counters.toClientPackets++;
    this.#counters.toClientBytes += len;
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

/** `len` bytes of `buf` from `start`, as a plain Uint8Array view (cheaper to make than a Buffer's
 *  subarray, which looks up its species constructor); `buf` itself when that is all of it. */
function view(buf: Uint8Array, start: number, len: number): Uint8Array {
  return start === 0 && len === buf.length
    ? buf
    : new Uint8Array(buf.buffer, buf.byteOffset + start, len);
}

/**
 * The received ChannelData datagram `frame`, sent on under channel `number` (§12.4): same length
 * field, same payload, only the channel number differs. Padding the sender may have added
 * (optional over UDP, §12.5) is left off.
 */
function rewritten(frame: Uint8Array, number: number, len: number): Uint8Array {
  frame[0] = number >>> 8;
  frame[1] = number & 0xff;
  const size = CHANNEL_DATA_HEADER_BYTES + len;
  return frame.length === size ? frame : view(frame, 0, size);
}
