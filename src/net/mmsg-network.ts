/**
 * `UdpNetwork` on batched sockets (mmsg-socket.ts): components written against the injected
 * network (the STUN server) run unchanged, one listener call per datagram, while the socket
 * reads a batch per syscall and the answers they send during a batch go out with one sendmmsg
 * per socket when the batch is done — the alternate sockets of an RFC 5780 server included, as
 * every socket of this module flushes together. A send outside a batch (a timer's) goes out at
 * the end of the current JS task (a microtask). A send to a host name is resolved first
 * (dns.lookup, as node:dgram does) and goes out when the answer comes.
 *
 * Drops the caller cannot see as exceptions are reported to error listeners as `UdpDropError`
 * (code NATPUSH_ERR_UDP_DROPPED) with a count, once per batch: answers the kernel refused
 * (`send-failed`) and datagrams longer than a receive slot (`truncated`).
 *
 * `selectUdpNetwork('mmsg')` is this network when the addon loads, else node:dgram with one
 * warning line per process saying why.
 */
import dns from 'node:dns';
import { isIP } from 'node:net';
import type { Logger } from '../util/logger.js';
import { SocketListeners } from './listeners.js';
import { mmsgUnavailable } from './mmsg-binding.js';
import type { MmsgBatch, MmsgSocketOptions, ReceiveBuffers } from './mmsg-socket.js';
import { MMSG_DEFAULTS, MmsgSocket, receiveBuffers } from './mmsg-socket.js';
import { nodeUdpNetwork } from './node-udp.js';
import type {
  Endpoint,
  ErrorListener,
  MessageListener,
  UdpBindOptions,
  UdpNetwork,
  UdpSocket,
} from './udp.js';
import { checkPort, familyOf } from './udp.js';
import { NET_ERR } from './errors.js';
import { NatpushError } from '../util/errors.js';

export type UdpIo = 'mmsg' | 'dgram';

export class UdpDropError extends NatpushError {
  declare readonly code: typeof NET_ERR.UDP_DROPPED;
  constructor(
    readonly reason: 'send-failed' | 'truncated',
    readonly count: number,
  ) {
    super(NET_ERR.UDP_DROPPED, `${count} datagram(s) dropped: ${reason}`);
    this.name = 'UdpDropError';
  }
}

export interface MmsgNetworkOptions extends Pick<
  MmsgSocketOptions,
  'slots' | 'slotBytes' | 'bufferBytes'
> {
  /**
   * Hand listeners views of the shared receive buffer instead of copies: only for listeners
   * that are done with the bytes when they return (the STUN server answers synchronously).
   * Default false: each datagram is copied, as node:dgram gives a Buffer of its own.
   */
  lendViews?: boolean;
  /** For `share: 'cluster'` binds (node:cluster's shared handle is libuv's): default dgram. */
  fallback?: UdpNetwork;
  /**
   * Every socket of this network receives into one set of buffers (mmsg-socket.ts `receive`):
   * for many sockets that each hear little, as a TURN relay's socket per allocation (measured:
   * 18–20 KiB of RSS per allocation with buffers of their own, 12.5–13 shared, as node:dgram).
   */
  shareReceiveBuffers?: boolean;
}

/** Sockets with queued answers, flushed together at the end of a batch (or microtask). */
const pending: MmsgUdpSocket[] = [];
let inBatch = 0;
let flushScheduled = false;

function flushPending(): void {
  flushScheduled = false;
  for (let i = 0; i < pending.length; i++) pending[i]!.flushQueued();
  pending.length = 0;
}

class MmsgUdpSocket implements UdpSocket {
  readonly #listeners = new SocketListeners();
  readonly #socket: MmsgSocket;
  readonly #lend: boolean;
  #pending = false;
  #reportedUnsent = 0;
  #reportedTruncated = 0;

  constructor(options: MmsgSocketOptions, lend: boolean) {
    this.#lend = lend;
    this.#socket = MmsgSocket.open(options, (batch) => this.#onBatch(batch));
  }

  get closed(): boolean {
    return this.#socket.closed;
  }

  address(): Endpoint {
    return this.#socket.address();
  }

  send(data: Uint8Array, to: Endpoint): void {
    try {
      this.#socket.queue(data, to);
    } catch (err) {
      // A host name (a `turn:` URL may name the relay): resolved as node:dgram does, then sent.
      // Checked only on a refusal, so an IP literal's send pays nothing for it.
      if (
        !(err instanceof TypeError) ||
        this.#socket.closed ||
        !to.address ||
        isIP(to.address) !== 0
      )
        throw err;
      return this.#sendToName(Uint8Array.prototype.slice.call(data), to);
    }
    if (this.#pending) return;
    this.#pending = true;
    pending.push(this);
    if (inBatch === 0 && !flushScheduled) {
      flushScheduled = true;
      queueMicrotask(flushPending);
    }
  }

  #sendToName(data: Uint8Array, to: Endpoint): void {
    const family = this.#socket.address().family === 'IPv6' ? 6 : 4;
    dns.lookup(to.address, { family }, (err, address) => {
      if (err) return this.#listeners.error(err);
      if (this.#socket.closed) return;
      try {
        this.send(data, { address, port: to.port });
      } catch (e) {
        this.#listeners.error(e as Error); // never thrown out of a DNS callback
      }
    });
  }

  onMessage(listener: MessageListener): () => void {
    return this.#listeners.onMessage(listener);
  }

  onError(listener: ErrorListener): () => void {
    return this.#listeners.onError(listener);
  }

  close(): Promise<void> {
    return this.#socket.close();
  }

  /** @internal flushPending's */
  flushQueued(): void {
    this.#pending = false;
    this.#socket.flush();
    const unsent = this.#socket.unsent;
    if (unsent !== this.#reportedUnsent) {
      const n = unsent - this.#reportedUnsent;
      this.#reportedUnsent = unsent;
      this.#listeners.error(new UdpDropError('send-failed', n));
    }
  }

  #onBatch(batch: MmsgBatch): void {
    inBatch++;
    try {
      for (let i = 0; i < batch.count; i++) {
        if (batch.truncated(i)) continue;
        const view = batch.data(i);
        this.#listeners.message(
          this.#lend ? view : Uint8Array.prototype.slice.call(view),
          batch.endpoint(i),
        );
        if (this.#socket.closed) break;
      }
    } finally {
      inBatch--;
    }
    if (inBatch === 0) flushPending();
    const truncated = this.#socket.truncatedCount;
    if (truncated !== this.#reportedTruncated) {
      const n = truncated - this.#reportedTruncated;
      this.#reportedTruncated = truncated;
      this.#listeners.error(new UdpDropError('truncated', n));
    }
  }
}

export function createMmsgUdpNetwork(options: MmsgNetworkOptions = {}): UdpNetwork {
  const fallback = options.fallback ?? nodeUdpNetwork;
  const slots = options.slots ?? MMSG_DEFAULTS.slots;
  const slotBytes = options.slotBytes ?? MMSG_DEFAULTS.slotBytes;
  let shared: ReceiveBuffers | undefined;
  return {
    bindUdp(opts: UdpBindOptions = {}): Promise<UdpSocket> {
      if (opts.share === 'cluster') return fallback.bindUdp(opts);
      try {
        const family = opts.address ? familyOf(opts.address) : (opts.family ?? 'IPv4');
        const port = opts.port ?? 0;
        checkPort(port);
        const socket = new MmsgUdpSocket(
          {
            address: opts.address ?? (family === 'IPv6' ? '::' : '0.0.0.0'),
            port,
            reusePort: opts.share === 'reuseport',
            slots,
            slotBytes,
            ...(options.shareReceiveBuffers
              ? { receive: (shared ??= receiveBuffers(slots, slotBytes)) }
              : {}),
            ...(options.bufferBytes !== undefined ? { bufferBytes: options.bufferBytes } : {}),
          },
          options.lendViews ?? false,
        );
        return Promise.resolve(socket);
      } catch (err) {
        return Promise.reject(err as Error);
      }
    },
  };
}

let warned = false;

/**
 * The network for a UDP server: 'mmsg' (batched, when the addon loads: otherwise node:dgram and
 * one warning per process) or 'dgram'. `lendViews` and `slots` as in MmsgNetworkOptions.
 */
export function selectUdpNetwork(
  io: UdpIo,
  options: {
    logger?: Logger;
    lendViews?: boolean;
    slots?: number;
    shareReceiveBuffers?: boolean;
  } = {},
): UdpNetwork {
  if (io === 'dgram') return nodeUdpNetwork;
  const why = mmsgUnavailable();
  if (why === undefined) {
    return createMmsgUdpNetwork({
      lendViews: options.lendViews ?? false,
      ...(options.slots !== undefined ? { slots: options.slots } : {}),
      ...(options.shareReceiveBuffers ? { shareReceiveBuffers: true } : {}),
    });
  }
  if (!warned) {
    warned = true;
    options.logger?.warn(`udp-io mmsg unavailable, using node:dgram: ${why}`);
  }
  return nodeUdpNetwork;
}
