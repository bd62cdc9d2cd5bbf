/**
 * The TURN server (RFC 8656): Allocate, Refresh, CreatePermission, ChannelBind, Send/Data
 * indications and ChannelData over UDP and TCP, with long-term credentials (RFC 8489 §9.2).
 *
 *   client ──UDP/TCP──▶ listener ──(5-tuple → allocation)──▶ relayed UDP socket ──▶ peer
 *                 ◀── ChannelData / Data indication ◀──────────────────────────◀──┘
 *
 * This file is the listener: it binds the sockets, tells ChannelData (data-path.ts) from STUN,
 * hands requests to dispatch.ts and their replies to responder.ts, and sweeps expired state.
 * Each method has its handler in handlers/; allocations live in registry.ts.
 */
import type { Server } from 'node:net';
import type { Endpoint, UdpSocket } from '../../net/index.js';
import { UdpDropError } from '../../net/mmsg-network.js';
import type { StunMessage } from '../../stun/index.js';
import { decodeStunMessage, Method, StunClass } from '../../stun/index.js';
import { SERVER_DEFAULTS } from '../../stun/constants.js';
import { RateLimiter } from '../../stun/rate-limiter.js';
import type { Clock, TimerHandle } from '../../util/clock.js';
import type { Logger } from '../../util/logger.js';
import { TokenBucket } from '../../util/token-bucket.js';
import {
  OWNER_HANDOFF_BYTES_PER_SECOND,
  TCP_HANDSHAKE_SLOTS,
  TCP_NO_ALLOCATION_TIMEOUT_MS,
} from '../constants.js';
import { RelayCounters } from '../counters.js';
import type { StreamFrameKind } from '../stream-framer.js';
import type { ClientLink, TcpClientLink } from './client-link.js';
import { listenTcp, UdpClientLink } from './client-link.js';
import { createRelayCore } from './core.js';
import { handleRequest } from './dispatch.js';
import { handleSendIndication } from './handlers/send-indication.js';
import {
  resolveServerOptions,
  type ResolvedTurnServerOptions,
  type TurnServerOptions,
} from './options.js';
import { PeerAccess } from './peer-access.js';
import { AllocationRegistry, type LiveAllocation } from './registry.js';
import type { RelayCore } from './request-context.js';
import { Responder } from './responder.js';
import { siblingState, SiblingTable } from './siblings.js';

export interface TurnServerAddresses {
  udp: Endpoint;
  tcp?: Endpoint;
}

export class TurnServer {
  readonly counters = new RelayCounters();
  readonly #o: ResolvedTurnServerOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #core: RelayCore;
  readonly #registry: AllocationRegistry;
  readonly #peers: PeerAccess;
  readonly #responder: Responder;
  #udp: UdpSocket | undefined;
  #tcp: Server | undefined;
  readonly #tcpLinks = new Set<TcpClientLink>();
  #sweepTimer: TimerHandle | undefined;
  #closed = false;
  /** With sibling workers: hands a datagram of another worker's client to it (true: handed). */
  #handOff: ((from: Endpoint, data: Uint8Array) => boolean) | undefined;

  constructor(options: TurnServerOptions) {
    const o = resolveServerOptions(options);
    this.#o = o;
    this.#clock = o.clock;
    this.#log = o.logger;
    this.#core = createRelayCore(o, this.counters, () => this.#closed);
    this.#registry = this.#core.registry;
    this.#peers = this.#core.peers;
    this.#responder = new Responder({
      realm: o.realm,
      nonces: this.#core.auth.nonces,
      clock: this.#clock,
      counters: this.counters,
      errorLimiter: new RateLimiter(SERVER_DEFAULTS.rateLimit, this.#clock),
      errorBytes: new TokenBucket(
        { ratePerSecond: o.errorReplyBytesPerSecond, burst: o.errorReplyBytesPerSecond },
        this.#clock.now(),
      ),
    });
  }

  /** Bind the listeners and start sweeping. */
  async start(): Promise<TurnServerAddresses> {
    if (this.#udp) throw new TypeError('TurnServer already started');
    this.#udp = await this.#o.net.bindUdp({ address: this.#o.listenAddress, port: this.#o.port });
    const udp = this.#udp;
    const server = udp.address();
    udp.onMessage((data, from) => this.#onUdpDatagram(udp, server, data, from));
    udp.onError((err) => {
      if (err instanceof UdpDropError) this.counters.dropped[err.reason] += err.count;
      this.#log.debug('turn udp listener error', { err: err.message });
    });
    for (const addr of this.#peers.ownAddresses) this.#peers.listeners.set(addr, server.port, true);
    this.#joinSiblings(udp);
    if (this.#o.tcpPort !== undefined) {
      this.#tcp = await listenTcp(
        this.#o.listenAddress,
        this.#o.tcpPort,
        {
          onFrame: (link, frame, kind) => this.#onTcpFrame(link, frame, kind),
          onClose: (link) => this.#onTcpClose(link),
          onFramingError: (_link, err) => {
            this.counters.drop('malformed');
            this.#log.debug('turn tcp framing error', { err: err.message });
          },
          onRefused: (reason) => this.counters.drop(reason),
        },
        this.#tcpLinks,
        {
          clock: this.#clock,
          maxConnections: this.#o.maxAllocations + TCP_HANDSHAKE_SLOTS,
          maxPendingPerIp: TCP_HANDSHAKE_SLOTS,
          noAllocationTimeoutMs: TCP_NO_ALLOCATION_TIMEOUT_MS,
        },
      );
    }
    this.#armSweep();
    return this.addresses();
  }

  addresses(): TurnServerAddresses {
    if (!this.#udp) throw new TypeError('TurnServer not started');
    const tcp = this.#tcp?.address();
    return {
      udp: this.#udp.address(),
      ...(tcp && typeof tcp === 'object' ? { tcp: { address: tcp.address, port: tcp.port } } : {}),
    };
  }

  get allocationCount(): number {
    return this.#registry.size;
  }

  /** Close listeners, every relayed socket and TCP connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#sweepTimer?.cancel();
    for (const a of this.#registry.all()) this.#registry.delete(a);
    for (const l of this.#tcpLinks) l.close();
    await Promise.all([
      this.#core.reservations.closeAll(),
      this.#udp?.close(),
      new Promise<void>((resolve) => (this.#tcp ? this.#tcp.close(() => resolve()) : resolve())),
    ]);
  }

  // ─── receiving ───────────────────────────────────────────────────────────────────────────

  /** `handedOver`: another worker received it and handed it to us, its client's owner. */
  #onUdpDatagram(
    socket: UdpSocket,
    server: Endpoint,
    data: Uint8Array,
    from: Endpoint,
    handedOver = false,
  ): void {
    const a = this.#registry.udp(from.address, from.port);
    if (
      a === undefined &&
      this.#handOff !== undefined &&
      !handedOver &&
      this.#handOff(from, data)
    ) {
      return;
    }
    const b0 = data[0];
    // First two bits 01: ChannelData (RFC 8656 §12, incl. RFC 5766's 0x5000–0x7FFF).
    if (b0 !== undefined && b0 >= 0x40 && b0 <= 0x7f) {
      // A datagram of its own (UdpNetwork): the data path may send it on rewritten.
      this.#core.data.fromClient(a, data, true);
      return;
    }
    this.#onStun(data, new UdpClientLink(socket, from, server));
  }

  #onTcpFrame(link: TcpClientLink, frame: Uint8Array, kind: StreamFrameKind): void {
    if (kind === 'channel-data') {
      this.#core.data.fromClient(link.allocation as LiveAllocation | undefined, frame);
    } else {
      this.#onStun(frame, link);
    }
  }

  #onTcpClose(link: TcpClientLink): void {
    // RFC 8656 §3.1: the allocation lives and dies with its TCP connection.
    const a = link.allocation as LiveAllocation | undefined;
    if (a) this.#registry.delete(a);
  }

  #onStun(data: Uint8Array, link: ClientLink): void {
    let msg: StunMessage;
    try {
      msg = decodeStunMessage(data);
    } catch {
      return this.counters.drop('malformed');
    }
    if (msg.cls === StunClass.Indication && msg.method === Method.Send) {
      const dropped = handleSendIndication(msg, link, this.#core, this.#clock.now());
      if (dropped?.reason !== undefined) this.counters.drop(dropped.reason);
      return;
    }
    // Binding indications are keepalives (RFC 8489 §6.3.2): nothing to do, nothing to count.
    if (msg.cls === StunClass.Indication && msg.method === Method.Binding) return;
    if (msg.cls !== StunClass.Request) return this.counters.drop('unexpected');
    this.counters.requests++;
    handleRequest(msg, link, this.#core)
      .then(({ reply, key }) => {
        this.#responder.answer(link, msg, reply, key);
        if (reply.kind === 'ok') this.#publish(link, msg.method);
      })
      .catch((err: unknown) => this.#log.error('turn reply failed', { err: String(err) }));
  }

  // ─── sibling workers (siblings.ts) ────────────────────────────────────────────────────────

  #joinSiblings(udp: UdpSocket): void {
    const ex = this.#o.siblingExchange;
    if (!ex) return;
    const table = new SiblingTable([this.#o.relayAddress, this.#o.externalAddress]);
    const server = udp.address();
    ex.serve(
      (from, port, state) => table.apply(from, port, state),
      (from) => table.forget(from),
      {
        received: (from, data) => this.#onUdpDatagram(udp, server, data, from, true),
        stateOf: (port) => {
          const a = this.#registry.relayedAt(this.#o.relayAddress, port);
          if (a === undefined || a.link.transport !== 'udp') return undefined;
          return a.state.isExpired(this.#clock.now())
            ? undefined
            : siblingState(a.link.client, a.state);
        },
      },
    );
    // A worker replaced beside us joins the SO_REUSEPORT group in a new order, so the kernel may
    // now deliver one of another worker's clients here: its datagrams go to the worker that
    // holds its allocation (and so its relayed socket), which answers from its own socket on the
    // same shared port — the client sees no change. Without this it got 437 and had to allocate
    // again, its peers told the new address. Bounded (OWNER_HANDOFF_BYTES_PER_SECOND).
    const forward = ex.forward?.bind(ex);
    if (forward !== undefined) {
      const budget = new TokenBucket(
        { ratePerSecond: OWNER_HANDOFF_BYTES_PER_SECOND, burst: OWNER_HANDOFF_BYTES_PER_SECOND },
        this.#clock.now(),
      );
      this.#handOff = (from, data) => {
        const now = this.#clock.now();
        const owner = table.ownerOfClient(from.address, from.port, now);
        if (owner === undefined) return false;
        if (!budget.take(data.length, now)) {
          this.counters.drop('handoff-budget');
          return true;
        }
        forward(owner, from, data);
        this.counters.forwardedToOwner++;
        return true;
      };
    }
    // The hand-off only without per-user caps: the receiving user's bucket is in the other
    // worker. The copies are needed either way: a sibling's relayed address is a peer only as
    // one the table knows (peer-access.ts; 403 own-address otherwise on a relay address of ours).
    if (this.#o.userBytesPerSecond === 0) {
      this.#core.data.useSiblings(table, (bytes, to) => udp.send(bytes, to));
    }
    this.#registry.siblings = table;
    this.#registry.onDeleted = (a) => {
      if (a.link.transport === 'udp') ex.publish(a.relayed.port, undefined);
    };
  }

  /** After a successful request that changed a UDP allocation, tell the siblings its state. */
  #publish(link: ClientLink, method: number): void {
    const ex = this.#o.siblingExchange;
    if (!ex || link.transport !== 'udp' || !MIRRORED_METHODS.has(method)) return;
    const a = this.#registry.udp(link.client.address, link.client.port);
    if (a !== undefined && !a.state.isExpired(this.#clock.now())) {
      ex.publish(a.relayed.port, siblingState(link.client, a.state));
    }
  }

  // ─── bookkeeping ─────────────────────────────────────────────────────────────────────────

  #armSweep(): void {
    this.#sweepTimer = this.#clock.setTimeout(() => {
      if (this.#closed) return;
      try {
        this.#registry.sweep(this.#clock.now());
      } catch (err) {
        this.#log.error('turn sweep failed', { err: String(err) });
      }
      this.#armSweep();
    }, this.#o.sweepIntervalMs);
  }
}

/** The methods whose success changes what a sibling worker mirrors (a Refresh to 0 deletes:
 *  registry.onDeleted says so). */
const MIRRORED_METHODS: ReadonlySet<number> = new Set([
  Method.Allocate,
  Method.Refresh,
  Method.CreatePermission,
  Method.ChannelBind,
]);

/** Construct and start a TURN server; `serve` composes this. */
export async function createRelayServer(options: TurnServerOptions): Promise<TurnServer> {
  const server = new TurnServer(options);
  await server.start();
  return server;
}
