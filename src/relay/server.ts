/**
 * The TURN server (RFC 8656): Allocate, Refresh, CreatePermission, ChannelBind, Send/Data
 * indications and ChannelData over UDP and TCP, with long-term credentials (RFC 8489 §9.2).
 *
 *   client ──UDP/TCP──▶ listener ──(5-tuple → allocation)──▶ relayed UDP socket ──▶ peer
 *                 ◀── ChannelData / Data indication ◀──────────────────────────◀──┘
 *
 * Protocol decisions live in pure modules (allocation.ts, auth.ts, peer-policy.ts, quota.ts,
 * channel-data.ts); this file routes packets between sockets and those modules.
 *
 * Hot path (ChannelData both ways): no STUN parsing, lookups keyed by address string and port
 * number (no key strings built), one output buffer per packet peer → client and none client →
 * peer (the payload is a view of the received datagram).
 */
import net from 'node:net';
import type { Endpoint, UdpSocket } from '../net/index.js';
import { endpointKey } from '../net/index.js';
import type { StunMessage } from '../stun/index.js';
import {
  Attr,
  decodeStunMessage,
  Method,
  messageType,
  readChannelNumber,
  readEvenPort,
  readLifetime,
  readRequestedTransport,
  readReservationToken,
  readXorAddress,
  readXorAddresses,
  readAddressFamily,
  StunClass,
  StunDecodeError,
  StunMessageBuilder,
  TransportProtocol,
} from '../stun/index.js';
import {
  IPV4_UDP_HEADER_BYTES,
  IPV6_UDP_HEADER_BYTES,
  SERVER_DEFAULTS,
} from '../stun/constants.js';
import { KeyedCounter, RateLimiter, sourceKey } from '../stun/rate-limiter.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { Allocation } from './allocation.js';
import { authenticate, type AuthContext } from './auth.js';
import {
  channelDataPayloadLength,
  channelDataSize,
  channelOf,
  CHANNEL_DATA_HEADER_BYTES,
  writeChannelData,
} from './channel-data.js';
import type { ClientLink, TcpClientLink } from './client-link.js';
import { listenTcp, UdpClientLink } from './client-link.js';
import {
  ERROR_REPLY_MAX_AMPLIFICATION,
  EVEN_PORT_ATTEMPTS,
  TCP_HANDSHAKE_SLOTS,
  TCP_NO_ALLOCATION_TIMEOUT_MS,
} from './constants.js';
import { RelayCounters } from './counters.js';
import { TurnErrorCode, TurnRedirect, TurnRequestError, TURN_REASON } from './errors.js';
import { EndpointMap } from './five-tuple.js';
import { NonceMinter } from './nonce.js';
import { PeerPolicy } from './peer-policy.js';
import { PortReservations } from './port-reservations.js';
import { TokenBucket, UserQuotas, type UserUsage } from './quota.js';
import {
  resolveServerOptions,
  type ResolvedTurnServerOptions,
  type TurnServerOptions,
} from './server-options.js';
import type { StreamFrameKind } from './stream-framer.js';

/** An allocation with its sockets attached. */
interface LiveAllocation {
  readonly state: Allocation;
  readonly link: ClientLink;
  readonly relay: UdpSocket;
  /** XOR-RELAYED-ADDRESS as advertised (externalAddress : relayed port). */
  readonly relayed: Endpoint;
  readonly usage: UserUsage;
  /** The client's source as the per-IP cap counts it (sourceKey). */
  readonly sourceKey: string;
}

type AddAttributes = (b: StunMessageBuilder) => void;

/** What kind of relayed port an Allocate asks for (RFC 8656 §7.2 steps 4–5). */
interface RelaySpec {
  even: boolean;
  reserveNext: boolean;
  token: Uint8Array | undefined;
}

interface BoundRelay {
  socket: UdpSocket;
  /** RESERVATION-TOKEN of the next port, when EVEN-PORT had the R bit. */
  token?: Uint8Array;
}

/** Attributes we understand in requests; other comprehension-required ones → 420 (RFC 8489 §6.3.1).
 *  DONT-FRAGMENT is absent on purpose: Node cannot set DF, and RFC 8656 §7.2 step 3 says to
 *  treat it as unknown then. */
const KNOWN_ATTRIBUTES: ReadonlySet<number> = new Set([
  Attr.Username,
  Attr.MessageIntegrity,
  Attr.MessageIntegritySha256,
  Attr.Realm,
  Attr.Nonce,
  Attr.RequestedTransport,
  Attr.Lifetime,
  Attr.XorPeerAddress,
  Attr.Data,
  Attr.ChannelNumber,
  Attr.RequestedAddressFamily,
  Attr.EvenPort,
  Attr.PasswordAlgorithm,
  Attr.ReservationToken,
]);

const hex = (b: Uint8Array): string =>
  Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

export interface TurnServerAddresses {
  udp: Endpoint;
  tcp?: Endpoint;
}

export class TurnServer {
  readonly counters = new RelayCounters();
  readonly #o: ResolvedTurnServerOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #auth: AuthContext;
  readonly #policy: PeerPolicy;
  readonly #quotas: UserQuotas;
  /** Allocations per client IPv4 / IPv6 /64 (486 beyond maxAllocationsPerIp). */
  readonly #ipQuotas: KeyedCounter;
  /** The whole server's relayed bytes/s (0 = unlimited). */
  readonly #total: TokenBucket;
  /** Error replies per source IP (finding 10); the STUN server's limits. */
  readonly #errorLimiter: RateLimiter;
  #udp: UdpSocket | undefined;
  #tcp: net.Server | undefined;
  readonly #tcpLinks = new Set<TcpClientLink>();
  /** UDP allocations by client address → port (the other 5-tuple parts are the listener's). */
  readonly #udpAllocations = new EndpointMap<LiveAllocation>();
  readonly #tcpAllocations = new Set<LiveAllocation>();
  /** Our listening transport addresses: never a peer (a client must not talk TURN to us
   *  through us). */
  readonly #listeners = new EndpointMap<true>();
  /** Our relayed transport addresses: the one exception to "own addresses are refused", so two
   *  clients of the same relay reach each other (the usual WebRTC case, and symmetric × symmetric). */
  readonly #relayedTransports = new EndpointMap<true>();
  /** Every address of ours (listen, relay, external), for the Send-indication check. */
  readonly #ownAddresses = new Set<string>();
  /** 5-tuples with an Allocate in progress (binding a socket), to absorb retransmissions. */
  readonly #pending = new Set<string>();
  readonly #reservations: PortReservations;
  #sweepTimer: TimerHandle | undefined;
  #nextAlternate = 0;
  #closed = false;

  constructor(options: TurnServerOptions) {
    this.#o = resolveServerOptions(options);
    this.#clock = this.#o.clock;
    this.#log = this.#o.logger;
    this.#auth = {
      realm: this.#o.realm,
      credentials: this.#o.credentials,
      nonces: new NonceMinter(this.#o.nonceTtlSeconds),
    };
    const own = [this.#o.relayAddress, this.#o.externalAddress];
    if (this.#o.listenAddress !== '0.0.0.0' && this.#o.listenAddress !== '::') {
      own.push(this.#o.listenAddress);
    }
    for (const addr of own) this.#ownAddresses.add(addr);
    this.#policy = new PeerPolicy({
      ...this.#o.peerPolicy,
      ownAddresses: [...(this.#o.peerPolicy.ownAddresses ?? []), ...own],
    });
    this.#reservations = new PortReservations(this.#clock, this.#o.maxAllocations);
    this.#quotas = new UserQuotas(this.#o.maxAllocationsPerUser, this.#o.userBytesPerSecond);
    this.#ipQuotas = new KeyedCounter(this.#o.maxAllocationsPerIp);
    this.#total = new TokenBucket(this.#o.totalBytesPerSecond, this.#clock.now());
    this.#errorLimiter = new RateLimiter(SERVER_DEFAULTS.rateLimit, this.#clock);
  }

  /** Bind the listeners and start sweeping. */
  async start(): Promise<TurnServerAddresses> {
    if (this.#udp) throw new TypeError('TurnServer already started');
    this.#udp = await this.#o.net.bindUdp({ address: this.#o.listenAddress, port: this.#o.port });
    const udp = this.#udp;
    const server = udp.address();
    udp.onMessage((data, from) => this.#onUdpDatagram(udp, server, data, from));
    udp.onError((err) => this.#log.debug('turn udp listener error', { err: err.message }));
    for (const addr of this.#ownAddresses) this.#listeners.set(addr, server.port, true);
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
    return this.#udpAllocations.size + this.#tcpAllocations.size;
  }

  /** Close listeners, every relayed socket and TCP connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#sweepTimer?.cancel();
    const all = [...this.#udpAllocations.values(), ...this.#tcpAllocations];
    for (const a of all) this.#deleteAllocation(a);
    for (const l of this.#tcpLinks) l.close();
    await Promise.all([
      this.#reservations.closeAll(),
      this.#udp?.close(),
      new Promise<void>((resolve) => (this.#tcp ? this.#tcp.close(() => resolve()) : resolve())),
    ]);
  }

  // ─── receiving ───────────────────────────────────────────────────────────────────────────

  #onUdpDatagram(socket: UdpSocket, server: Endpoint, data: Uint8Array, from: Endpoint): void {
    const b0 = data[0];
    // First two bits 01: ChannelData (RFC 8656 §12, incl. RFC 5766's 0x5000–0x7FFF).
    if (b0 !== undefined && b0 >= 0x40 && b0 <= 0x7f) {
      this.#channelDataFromClient(this.#udpAllocations.get(from.address, from.port), data);
      return;
    }
    this.#onStun(data, new UdpClientLink(socket, from, server));
  }

  #onTcpFrame(link: TcpClientLink, frame: Uint8Array, kind: StreamFrameKind): void {
    if (kind === 'channel-data') {
      this.#channelDataFromClient(link.allocation as LiveAllocation | undefined, frame);
    } else {
      this.#onStun(frame, link);
    }
  }

  #onTcpClose(link: TcpClientLink): void {
    // RFC 8656 §3.1: the allocation lives and dies with its TCP connection.
    const a = link.allocation as LiveAllocation | undefined;
    if (a) this.#deleteAllocation(a);
  }

  /** RFC 8656 §12.5: ChannelData from the client → UDP datagram to the bound peer. */
  #channelDataFromClient(a: LiveAllocation | undefined, data: Uint8Array): void {
    const now = this.#clock.now();
    if (a === undefined || now >= a.state.expiresAt) return this.counters.drop('no-allocation');
    const len = channelDataPayloadLength(data);
    if (len < 0) return this.counters.drop('bad-length');
    const ch = a.state.channelByNumber(channelOf(data), now);
    if (ch === undefined) return this.counters.drop('no-channel');
    if (!a.state.hasPermission(ch.peer.address, now)) return this.counters.drop('no-permission');
    if (!a.usage.bandwidth.take(len, now)) return this.counters.drop('bandwidth');
    if (!this.#total.take(len, now)) return this.counters.drop('total-bandwidth');
    a.relay.send(
      data.subarray(CHANNEL_DATA_HEADER_BYTES, CHANNEL_DATA_HEADER_BYTES + len),
      ch.peer as Endpoint,
    );
    this.counters.toPeerPackets++;
    this.counters.toPeerBytes += len;
  }

  /** RFC 8656 §11.3 / §12.5: a datagram from a peer → ChannelData or Data indication. */
  #fromPeer(a: LiveAllocation, data: Uint8Array, from: Endpoint): void {
    const now = this.#clock.now();
    const s = a.state;
    if (!s.hasPermission(from.address, now)) return this.counters.drop('no-permission');
    if (!a.usage.bandwidth.take(data.length, now)) return this.counters.drop('bandwidth');
    if (!this.#total.take(data.length, now)) return this.counters.drop('total-bandwidth');
    const ch = s.channelByPeer(from.address, from.port, now);
    let out: Uint8Array;
    if (ch !== undefined) {
      out = Buffer.allocUnsafe(channelDataSize(data.length, a.link.stream));
      writeChannelData(out, 0, ch.number, data, a.link.stream);
    } else {
      out = new StunMessageBuilder(DATA_INDICATION, undefined, data.length + 48)
        .addXorAddress(Attr.XorPeerAddress, from)
        .addBytes(Attr.Data, data)
        .build();
    }
    if (!a.link.send(out)) return this.counters.drop('backpressure');
    this.counters.toClientPackets++;
    this.counters.toClientBytes += data.length;
  }

  #onStun(data: Uint8Array, link: ClientLink): void {
    let msg: StunMessage;
    try {
      msg = decodeStunMessage(data);
    } catch {
      return this.counters.drop('malformed');
    }
    if (msg.cls === StunClass.Indication && msg.method === Method.Send) {
      return this.#onSendIndication(msg, link);
    }
    // Binding indications are keepalives (RFC 8489 §6.3.2): nothing to do, nothing to count.
    if (msg.cls === StunClass.Indication && msg.method === Method.Binding) return;
    if (msg.cls !== StunClass.Request) return this.counters.drop('unexpected');
    this.counters.requests++;
    this.#onRequest(msg, link).catch((err: unknown) => {
      this.#log.error('turn request handler failed', { err: String(err) });
      this.#replyError(link, msg, TurnErrorCode.ServerError, 'internal error', undefined);
    });
  }

  /** RFC 8656 §11.2: Send indication → the DATA to XOR-PEER-ADDRESS, if permitted. */
  #onSendIndication(msg: StunMessage, link: ClientLink): void {
    const a = this.#allocationOf(link);
    if (a === undefined) return this.counters.drop('no-allocation');
    let peer: Endpoint | undefined;
    try {
      peer = readXorAddress(msg, Attr.XorPeerAddress);
    } catch {
      return this.counters.drop('malformed');
    }
    const data = msg.get(Attr.Data);
    if (peer === undefined || data === undefined) return this.counters.drop('unexpected');
    const now = this.#clock.now();
    if (!a.state.hasPermission(peer.address, now) || this.#ownPortRefused(peer)) {
      return this.counters.drop('no-permission');
    }
    if (!a.usage.bandwidth.take(data.length, now)) return this.counters.drop('bandwidth');
    if (!this.#total.take(data.length, now)) return this.counters.drop('total-bandwidth');
    a.relay.send(data, peer);
    this.counters.toPeerPackets++;
    this.counters.toPeerBytes += data.length;
  }

  // ─── requests ────────────────────────────────────────────────────────────────────────────

  async #onRequest(msg: StunMessage, link: ClientLink): Promise<void> {
    try {
      await this.#handleRequest(msg, link);
    } catch (err) {
      // An attribute that does not decode (bad UTF-8, wrong length, unknown family): the
      // request is malformed, not our failure (RFC 8489 §6.3.1.1: 400).
      if (!(err instanceof StunDecodeError)) throw err;
      this.counters.drop('malformed');
      this.#replyError(link, msg, TurnErrorCode.BadRequest, 'malformed attribute', undefined);
    }
  }

  async #handleRequest(msg: StunMessage, link: ClientLink): Promise<void> {
    if (msg.method === Method.Binding) {
      // RFC 8656 §4: a TURN server answers Binding like a STUN server, without credentials.
      return this.#reply(link, msg, (b) => b.addXorAddress(Attr.XorMappedAddress, link.client));
    }
    const now = this.#clock.now();
    const auth = authenticate(this.#auth, msg, endpointKey(link.client), now);
    if (!auth.ok) {
      return this.#replyError(link, msg, auth.status, auth.detail, undefined, auth.challenge);
    }
    const unknown = msg.unknownComprehensionRequired(KNOWN_ATTRIBUTES);
    if (unknown.length > 0) {
      return this.#replyError(
        link,
        msg,
        TurnErrorCode.UnknownAttribute,
        undefined,
        auth.key,
        false,
        (b) => b.addUnknownAttributes(unknown),
      );
    }
    try {
      const add = await this.#dispatch(msg, link, auth);
      this.#reply(link, msg, add, auth.key);
    } catch (err) {
      if (err instanceof SilentDrop) return;
      if (err instanceof TurnRedirect) {
        const to = err.alternate;
        this.#replyError(link, msg, TurnErrorCode.TryAlternate, undefined, auth.key, false, (b) =>
          b.addAddress(Attr.AlternateServer, to),
        );
        return;
      }
      if (!(err instanceof TurnRequestError)) throw err;
      this.#replyError(link, msg, err.status, err.detail, auth.key);
    }
  }

  #dispatch(
    msg: StunMessage,
    link: ClientLink,
    auth: { username: string; user: string; key: Uint8Array },
  ): Promise<AddAttributes> | AddAttributes {
    if (msg.method === Method.Allocate) return this.#allocate(msg, link, auth);
    const a = this.#allocationOf(link);
    // RFC 8656 §5: requests other than Allocate need an allocation on this 5-tuple (437), made
    // with the same credentials (441).
    if (a === undefined) throw new TurnRequestError(TurnErrorCode.AllocationMismatch);
    if (a.state.username !== auth.username)
      throw new TurnRequestError(TurnErrorCode.WrongCredentials);
    switch (msg.method) {
      case Method.Refresh:
        return this.#refresh(msg, a);
      case Method.CreatePermission:
        return this.#createPermission(msg, a);
      case Method.ChannelBind:
        return this.#channelBind(msg, a);
      default:
        throw new TurnRequestError(TurnErrorCode.BadRequest, 'unsupported method');
    }
  }

  /** RFC 8656 §7.2, steps in order. */
  async #allocate(
    msg: StunMessage,
    link: ClientLink,
    auth: { username: string; user: string; key: Uint8Array },
  ): Promise<AddAttributes> {
    const existing = this.#allocationOf(link);
    if (existing !== undefined) {
      // Step 1: a retransmitted Allocate gets the same success; anything else is a mismatch.
      if (existing.state.allocateTransactionId === hex(msg.transactionId)) {
        return this.#allocateSuccess(existing, link);
      }
      throw new TurnRequestError(TurnErrorCode.AllocationMismatch);
    }
    const alternates = this.#o.alternateServers;
    if (alternates.length > 0) {
      throw new TurnRedirect(alternates[this.#nextAlternate++ % alternates.length]!);
    }
    const tupleKey = `${link.transport}|${endpointKey(link.client)}`;
    if (this.#pending.has(tupleKey)) {
      // A retransmission of an Allocate whose relayed socket is still being bound: its answer is
      // on the way with the same transaction id, so this copy gets none (a 437 would win the race).
      throw new SilentDrop();
    }
    const spec = this.#checkAllocateAttributes(msg);
    const now = this.#clock.now();
    if (this.allocationCount + this.#pending.size >= this.#o.maxAllocations) {
      throw new TurnRequestError(TurnErrorCode.InsufficientCapacity, 'server full');
    }
    const ipKey = sourceKey(link.client.address);
    if (!this.#ipQuotas.acquire(ipKey)) {
      throw new TurnRequestError(
        TurnErrorCode.AllocationQuotaReached,
        'too many from this address',
      );
    }
    const usage = this.#quotas.acquire(auth.user, now);
    if (usage === undefined) {
      this.#ipQuotas.release(ipKey);
      throw new TurnRequestError(TurnErrorCode.AllocationQuotaReached);
    }
    const release = (): void => {
      this.#quotas.release(auth.user);
      this.#ipQuotas.release(ipKey);
    };
    this.#pending.add(tupleKey);
    let bound: BoundRelay;
    try {
      bound = await this.#bindRelay(spec);
    } catch (err) {
      release();
      throw err;
    } finally {
      this.#pending.delete(tupleKey);
    }
    const relay = bound.socket;
    if (link.closed || this.#closed) {
      release();
      void relay.close();
      throw new TurnRequestError(TurnErrorCode.AllocationMismatch, 'client went away');
    }
    const a = this.#register(msg, link, auth, relay, usage, ipKey);
    const success = this.#allocateSuccess(a, link);
    const token = bound.token;
    if (token === undefined) return success;
    return (b) => {
      success(b);
      b.addBytes(Attr.ReservationToken, token);
    };
  }

  /** Steps 2–5: REQUESTED-TRANSPORT, address family, EVEN-PORT / RESERVATION-TOKEN. */
  #checkAllocateAttributes(msg: StunMessage): RelaySpec {
    const transport = readRequestedTransport(msg);
    if (transport === undefined) {
      throw new TurnRequestError(TurnErrorCode.BadRequest, 'REQUESTED-TRANSPORT missing');
    }
    if (transport !== TransportProtocol.UDP) {
      throw new TurnRequestError(TurnErrorCode.UnsupportedTransportProtocol);
    }
    const family = readAddressFamily(msg, Attr.RequestedAddressFamily);
    const token = readReservationToken(msg);
    if (family !== undefined && (family !== this.#relayFamily() || token !== undefined)) {
      throw new TurnRequestError(
        family !== this.#relayFamily()
          ? TurnErrorCode.AddressFamilyNotSupported
          : TurnErrorCode.BadRequest,
      );
    }
    const even = readEvenPort(msg);
    if (even !== undefined && token !== undefined) {
      throw new TurnRequestError(TurnErrorCode.BadRequest, 'EVEN-PORT with RESERVATION-TOKEN');
    }
    return { even: even !== undefined, reserveNext: even?.reserveNext === true, token };
  }

  #relayFamily(): 'IPv4' | 'IPv6' {
    return net.isIPv6(this.#o.relayAddress) ? 'IPv6' : 'IPv4';
  }

  /** A relayed socket: any port, an even one, an even one with the next reserved, or a reserved one. */
  async #bindRelay(spec: RelaySpec): Promise<BoundRelay> {
    if (spec.token !== undefined) {
      const socket = this.#reservations.take(spec.token);
      if (!socket)
        throw new TurnRequestError(TurnErrorCode.InsufficientCapacity, 'unknown reservation');
      return { socket };
    }
    const bind = (port: number): Promise<UdpSocket> =>
      this.#o.net.bindUdp({ address: this.#o.relayAddress, port });
    for (let i = 0; i < (spec.even ? EVEN_PORT_ATTEMPTS : 1); i++) {
      const s = await bind(0);
      const port = s.address().port;
      if (!spec.even) return { socket: s };
      if (port % 2 === 0 && !spec.reserveNext) return { socket: s };
      if (port % 2 === 0 && port < 65535) {
        const next = await bind(port + 1).catch(() => undefined);
        const token = next && this.#reservations.reserve(next);
        if (token) return { socket: s, token };
        await next?.close();
      }
      await s.close();
    }
    throw new TurnRequestError(TurnErrorCode.InsufficientCapacity, 'no even port pair free');
  }

  #register(
    msg: StunMessage,
    link: ClientLink,
    auth: { username: string; user: string; key: Uint8Array },
    relay: UdpSocket,
    usage: UserUsage,
    ipKey: string,
  ): LiveAllocation {
    const now = this.#clock.now();
    const state = new Allocation({
      fiveTuple: { transport: link.transport, client: link.client, server: link.server },
      username: auth.username,
      user: auth.user,
      key: auth.key,
      allocateTransactionId: hex(msg.transactionId),
      lifetimeS: this.#initialLifetime(readLifetime(msg)),
      now,
      limits: {
        maxPermissions: this.#o.maxPermissionsPerAllocation,
        maxChannels: this.#o.maxChannelsPerAllocation,
      },
    });
    const port = relay.address().port;
    const a: LiveAllocation = {
      state,
      link,
      relay,
      relayed: { address: this.#o.externalAddress, port },
      usage,
      sourceKey: ipKey,
    };
    this.#o.peerGate?.noteAllocation(auth.user, link.client, a.relayed);
    relay.onMessage((data, from) => this.#fromPeer(a, data, from));
    relay.onError((err) => this.#log.debug('turn relayed socket error', { err: err.message }));
    this.#relayedTransports.set(this.#o.externalAddress, port, true);
    this.#relayedTransports.set(this.#o.relayAddress, port, true);
    if (link.transport === 'udp')
      this.#udpAllocations.set(link.client.address, link.client.port, a);
    else {
      (link as TcpClientLink).allocation = a;
      this.#tcpAllocations.add(a);
      this.counters.tcpAllocationsCreated++;
    }
    this.counters.allocationsCreated++;
    this.#log.debug('turn allocation', { client: endpointKey(link.client), relayed: port });
    return a;
  }

  /** RFC 8656 §7.2: min(requested, max), but not below the default. */
  #initialLifetime(requested: number | undefined): number {
    if (requested === undefined) return this.#o.defaultLifetimeSeconds;
    return Math.max(
      this.#o.defaultLifetimeSeconds,
      Math.min(requested, this.#o.maxLifetimeSeconds),
    );
  }

  #allocateSuccess(a: LiveAllocation, link: ClientLink): AddAttributes {
    const remaining = Math.max(0, Math.round((a.state.expiresAt - this.#clock.now()) / 1000));
    return (b) =>
      b
        .addXorAddress(Attr.XorRelayedAddress, a.relayed)
        .addUint32(Attr.Lifetime, remaining)
        .addXorAddress(Attr.XorMappedAddress, link.client);
  }

  /** RFC 8656 §7.3: 0 deletes; otherwise min(requested, max), default when absent. */
  #refresh(msg: StunMessage, a: LiveAllocation): AddAttributes {
    const family = readAddressFamily(msg, Attr.RequestedAddressFamily);
    if (family !== undefined && family !== this.#relayFamily()) {
      throw new TurnRequestError(TurnErrorCode.PeerAddressFamilyMismatch);
    }
    const requested = readLifetime(msg);
    if (requested === 0) {
      this.#deleteAllocation(a);
      return (b) => b.addUint32(Attr.Lifetime, 0);
    }
    const lifetime =
      requested === undefined
        ? this.#o.defaultLifetimeSeconds
        : Math.min(requested, this.#o.maxLifetimeSeconds);
    a.state.refresh(lifetime, this.#clock.now());
    return (b) => b.addUint32(Attr.Lifetime, lifetime);
  }

  /** RFC 8656 §9.2: every XOR-PEER-ADDRESS is checked before any permission is installed. */
  #createPermission(msg: StunMessage, a: LiveAllocation): AddAttributes {
    const peers = readXorAddresses(msg, Attr.XorPeerAddress);
    if (peers.length === 0)
      throw new TurnRequestError(TurnErrorCode.BadRequest, 'XOR-PEER-ADDRESS missing');
    for (const p of peers) this.#checkPeer(p, a);
    const now = this.#clock.now();
    for (const p of peers) a.state.installPermission(p.address, now);
    this.counters.permissionsCreated++;
    return () => {};
  }

  /** RFC 8656 §11.2. */
  #channelBind(msg: StunMessage, a: LiveAllocation): AddAttributes {
    const number = readChannelNumber(msg);
    const peer = readXorAddress(msg, Attr.XorPeerAddress);
    if (number === undefined || peer === undefined) {
      throw new TurnRequestError(
        TurnErrorCode.BadRequest,
        'CHANNEL-NUMBER and XOR-PEER-ADDRESS required',
      );
    }
    this.#checkPeer(peer, a);
    a.state.bindChannel(number, peer, this.#clock.now());
    this.counters.channelsBound++;
    return () => {};
  }

  /**
   * 443 for a family other than the relayed one; 403 for refused addresses (RFC 8656 §9.1,
   * §21.1.5): the policy's ranges, our own addresses except our relayed transport addresses, and
   * our listening ports always.
   */
  #checkPeer(peer: Endpoint, a: LiveAllocation): void {
    if (net.isIPv6(peer.address) !== net.isIPv6(a.relayed.address)) {
      throw new TurnRequestError(TurnErrorCode.PeerAddressFamilyMismatch);
    }
    const verdict = this.#policy.check(peer.address);
    const relayedHere = this.#relayedTransports.get(peer.address, peer.port) === true;
    const ok = verdict === 'allowed' || (verdict === 'own-address' && relayedHere);
    if (!ok || this.#listeners.get(peer.address, peer.port)) {
      throw new TurnRequestError(TurnErrorCode.Forbidden, `peer address refused (${verdict})`);
    }
    const gate = this.#o.peerGate;
    if (gate !== undefined && !gate.allows(a.state.user, peer.address)) {
      this.counters.peerGateRefused++;
      throw new TurnRequestError(TurnErrorCode.Forbidden, 'peer not in rendezvous');
    }
  }

  /** A permission is per IP (§9), so Send to one of our own addresses re-checks the port. */
  #ownPortRefused(peer: Endpoint): boolean {
    if (!this.#ownAddresses.has(peer.address)) return false;
    if (this.#listeners.get(peer.address, peer.port)) return true;
    const relayedHere = this.#relayedTransports.get(peer.address, peer.port) === true;
    return !relayedHere && this.#policy.check(peer.address) !== 'allowed';
  }

  // ─── replies ─────────────────────────────────────────────────────────────────────────────

  #reply(link: ClientLink, req: StunMessage, add: AddAttributes, key?: Uint8Array): void {
    const b = StunMessageBuilder.of(req.method, StunClass.Success, req.transactionId);
    add(b);
    this.#seal(b, req, key);
    link.send(b.build());
  }

  #replyError(
    link: ClientLink,
    req: StunMessage,
    status: TurnErrorCode,
    detail: string | undefined,
    key: Uint8Array | undefined,
    challenge = false,
    add?: AddAttributes,
  ): void {
    const udp = link.transport === 'udp';
    // Finding 10: over UDP the source may be spoofed, so an error reply is a reflection: rate
    // limited per source IP like the STUN server's answers. (TCP needs a handshake first.)
    if (udp && !this.#errorLimiter.allow(sourceKey(link.client.address))) {
      return this.counters.drop('error-rate-limited');
    }
    // A request without a single attribute is never the start of a real TURN exchange (Allocate
    // needs REQUESTED-TRANSPORT, the others credentials): too small to justify a 401 of 3×.
    if (udp && challenge && req.attributeCount === 0) return this.counters.drop('error-too-large');
    const nonce = challenge
      ? this.#auth.nonces.mint(endpointKey(link.client), this.#clock.now())
      : undefined;
    const build = (reason: string): Uint8Array => {
      const b = StunMessageBuilder.of(req.method, StunClass.Error, req.transactionId);
      b.addErrorCode(status, reason);
      add?.(b);
      if (nonce !== undefined) {
        // RFC 8489 §9.2.4: REALM and a fresh NONCE so the client can (re)compute its integrity.
        b.addString(Attr.Realm, this.#o.realm);
        b.addString(Attr.Nonce, nonce);
      }
      this.#seal(b, req, key);
      return b.build();
    };
    let bytes = build(detail ?? TURN_REASON[status]);
    if (udp) {
      // On the wire (IP + UDP headers counted, as RFC 5780 §9.1 and binding-responder.ts do):
      // the reason phrase (RFC 8489 §14.8: any text, may be empty) only while the reply stays
      // within 1× the request, and no reply at all beyond 2×. No SOFTWARE is ever added.
      const h = net.isIPv6(link.client.address) ? IPV6_UDP_HEADER_BYTES : IPV4_UDP_HEADER_BYTES;
      const request = req.raw.length + h;
      if (bytes.length + h > request) bytes = build('');
      if (bytes.length + h > request * ERROR_REPLY_MAX_AMPLIFICATION) {
        return this.counters.drop('error-too-large');
      }
    }
    this.counters.errorResponses++;
    link.send(bytes);
  }

  /** Integrity of the kind the request used (RFC 8489 §9.2.4), FINGERPRINT if the request had one. */
  #seal(b: StunMessageBuilder, req: StunMessage, key: Uint8Array | undefined): void {
    if (key !== undefined) {
      if (req.integritySha256Offset >= 0) b.addIntegritySha256(key);
      else b.addIntegrity(key);
    }
    if (req.fingerprintOffset >= 0) b.addFingerprint();
  }

  // ─── bookkeeping ─────────────────────────────────────────────────────────────────────────

  /** The live allocation of this 5-tuple; one past its lifetime but not yet swept is deleted
   *  here, so a late Refresh cannot revive it (RFC 8656 §7: it is gone when it expires). */
  #allocationOf(link: ClientLink): LiveAllocation | undefined {
    const a =
      link.transport === 'udp'
        ? this.#udpAllocations.get(link.client.address, link.client.port)
        : ((link as TcpClientLink).allocation as LiveAllocation | undefined);
    if (a !== undefined && a.state.isExpired(this.#clock.now())) {
      this.counters.allocationsExpired++;
      this.#deleteAllocation(a);
      return undefined;
    }
    return a;
  }

  #deleteAllocation(a: LiveAllocation): void {
    const c = a.link.client;
    if (a.link.transport === 'udp') {
      if (this.#udpAllocations.get(c.address, c.port) !== a) return;
      this.#udpAllocations.delete(c.address, c.port);
    } else {
      if (!this.#tcpAllocations.delete(a)) return;
      (a.link as TcpClientLink).allocation = undefined;
    }
    const port = a.relay.address().port;
    this.#relayedTransports.delete(this.#o.externalAddress, port);
    this.#relayedTransports.delete(this.#o.relayAddress, port);
    this.#quotas.release(a.state.user);
    this.#ipQuotas.release(a.sourceKey);
    a.relay.close().catch(() => {});
  }

  #armSweep(): void {
    this.#sweepTimer = this.#clock.setTimeout(() => {
      if (this.#closed) return;
      try {
        this.#sweep();
      } catch (err) {
        this.#log.error('turn sweep failed', { err: String(err) });
      }
      this.#armSweep();
    }, this.#o.sweepIntervalMs);
  }

  /** Expire allocations (§7), permissions (§9) and channel bindings past their guard (§12). */
  #sweep(): void {
    const now = this.#clock.now();
    for (const a of [...this.#udpAllocations.values(), ...this.#tcpAllocations]) {
      if (a.state.isExpired(now)) {
        this.counters.allocationsExpired++;
        this.#deleteAllocation(a);
      } else {
        a.state.sweep(now);
      }
    }
  }
}

/** Thrown by a handler when a request must get no answer at all. */
class SilentDrop extends Error {}

/** RFC 8656 §11.4: Data indication, computed once for the peer → client path. */
const DATA_INDICATION = messageType(Method.Data, StunClass.Indication);

/** Construct and start a TURN server; `serve` composes this. */
export async function createRelayServer(options: TurnServerOptions): Promise<TurnServer> {
  const server = new TurnServer(options);
  await server.start();
  return server;
}
