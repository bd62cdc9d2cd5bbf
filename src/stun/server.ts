/**
 * The STUN server: Binding over UDP (and TCP with `tcp: true`), RFC 5780 alternate address and
 * port, per-source rate limits, a bytes/s budget for all UDP replies together, and counters.
 * Sockets only; decisions are made by the pure `respond()` in binding-responder.ts (the bare
 * Binding request, the common case, by its `bareBindingReply()` directly).
 */
import type { Endpoint, UdpNetwork, UdpSocket } from '../net/udp.js';
import type { UdpIo } from '../net/mmsg-network.js';
import { selectUdpNetwork, UdpDropError } from '../net/mmsg-network.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import { TokenBucket } from '../util/token-bucket.js';
import type { Decision, DropReason, ServerGrid } from './binding-responder.js';
import { bareBindingReply, respond } from './binding-responder.js';
import { IPV4_UDP_HEADER_BYTES, IPV6_UDP_HEADER_BYTES, SERVER_DEFAULTS } from './constants.js';
import type { RateLimitOptions } from './rate-limiter.js';
import { RateLimiter } from './rate-limiter.js';
import type { StunTcpListener } from './tcp-server.js';
import { listenTcp } from './tcp-server.js';

export interface StunServerOptions {
  /** Primary transport address (RFC 5780 A1:P1). Port 0 picks a free port. */
  listen: Endpoint;
  /** RFC 5780 alternate IP and/or port (A2, P2). Enables CHANGE-REQUEST and OTHER-ADDRESS. */
  alternate?: { address?: string; port?: number };
  /** Also serve Binding over TCP on the primary address (RFC 8489 §6.2.2); default false. Uses
   *  node:net directly (the injected network is UDP only). */
  tcp?: boolean;
  /** The network; default real sockets as `udpIo` says. */
  net?: UdpNetwork;
  /**
   * Real sockets without `net`: 'mmsg' (default) reads and answers a batch of datagrams per
   * syscall (recvmmsg/sendmmsg, native/udp-mmsg; node:dgram with one warning where the addon is
   * not built), 'dgram' one datagram per syscall (node:dgram). Measured in
   * bench/stun-vs-coturn.ts (issue 10).
   */
  udpIo?: UdpIo;
  clock?: Clock;
  logger?: Logger;
  /** SOFTWARE attribute; default 'natpush'; null for none. */
  software?: string | null;
  /** Per-source-address limits; default SERVER_DEFAULTS.rateLimit; false disables. */
  rateLimit?: Partial<RateLimitOptions> | false;
  /** Response ≤ this × request size (XOR-MAPPED-ADDRESS always fits); default 2. */
  maxAmplification?: number;
  /**
   * UDP replies of this process, all sources together, in bytes/s on the wire (IP + UDP headers
   * counted); a second's worth is the burst; default SERVER_DEFAULTS.replyBytesPerSecond
   * (24 MiB/s). Cannot be switched off: an unbounded reflector is never what an operator wants.
   * TCP replies are not counted: a TCP client's address is proven by its handshake.
   */
  replyBytesPerSecond?: number;
}

/** Attempts to find a port number free on every address and transport needed (port 0). */
const PORT_ATTEMPTS = 8;

/** `send-failed`: refused by the socket or dropped by the kernel (buffer full); `truncated`:
 *  longer than a batched socket's receive slot (mmsg-socket.ts MMSG_DEFAULTS.slotBytes). */
export type StunServerDrop = DropReason | 'send-failed' | 'truncated';

export interface StunServerStats {
  received: number;
  answered: { binding: number; change: number; error: number };
  dropped: Record<StunServerDrop, number>;
  tcpConnections: number;
  /** TCP connections closed at once: no slot left in all or for their address (finding 6). */
  tcpRefused: number;
  /** Times a TCP connection stopped being read: its unread answers passed
   *  TCP_LIMITS.maxQueuedReplyBytes (tcp-server.ts). */
  tcpSlowReaders: number;
}

export class StunServer {
  readonly stats: StunServerStats = {
    received: 0,
    answered: { binding: 0, change: 0, error: 0 },
    dropped: {
      'not-stun': 0,
      malformed: 0,
      'not-request': 0,
      'rate-limited': 0,
      'reply-budget': 0,
      'send-failed': 0,
      truncated: 0,
    },
    tcpConnections: 0,
    tcpRefused: 0,
    tcpSlowReaders: 0,
  };
  readonly #sockets: (UdpSocket | undefined)[][];
  readonly #grid: ServerGrid;
  readonly #limiter: RateLimiter | undefined;
  readonly #replyBytes: TokenBucket;
  readonly #clock: Clock;
  readonly #config: { grid: ServerGrid; software: string | undefined; maxAmplification: number };
  readonly #logger: Logger;
  #tcp: StunTcpListener | undefined;

  private constructor(sockets: (UdpSocket | undefined)[][], options: StunServerOptions) {
    this.#sockets = sockets;
    const ep = (a: number, p: number): Endpoint | undefined => sockets[a]?.[p]?.address();
    this.#grid = [
      [ep(0, 0)!, ep(0, 1)],
      [ep(1, 0), ep(1, 1)],
    ];
    const clock = options.clock ?? systemClock;
    this.#clock = clock;
    const budget = replyBudget(options.replyBytesPerSecond);
    this.#replyBytes = new TokenBucket({ ratePerSecond: budget, burst: budget }, clock.now());
    this.#logger = options.logger ?? silentLogger;
    this.#limiter =
      options.rateLimit === false
        ? undefined
        : new RateLimiter({ ...SERVER_DEFAULTS.rateLimit, ...options.rateLimit }, clock);
    this.#config = {
      grid: this.#grid,
      software:
        options.software === null ? undefined : (options.software ?? SERVER_DEFAULTS.software),
      maxAmplification: options.maxAmplification ?? SERVER_DEFAULTS.maxAmplification,
    };
    sockets.forEach((row, a) =>
      row.forEach((s, p) => {
        if (!s) return;
        const at = [a, p] as const;
        s.onMessage((data, from) => this.#onDatagram(data, from, at));
        s.onError((err) => this.#onSocketError(err));
      }),
    );
  }

  static async start(options: StunServerOptions): Promise<StunServer> {
    replyBudget(options.replyBytesPerSecond); // misuse throws before any socket is bound
    // With port 0 the kernel picks the primary UDP port, and the same number is then needed on
    // the alternate address and for TCP, where another process may hold it: pick again.
    const retry = options.listen.port === 0 || options.alternate?.port === 0;
    for (let attempt = 1; ; attempt++) {
      try {
        return await StunServer.#startOnce(options);
      } catch (err) {
        const inUse =
          (err as NodeJS.ErrnoException).code === 'EADDRINUSE' || /EADDRINUSE/.test(String(err));
        if (!retry || !inUse || attempt >= PORT_ATTEMPTS) throw err;
      }
    }
  }

  static async #startOnce(options: StunServerOptions): Promise<StunServer> {
    // The server is done with a datagram's bytes when its listener returns: lend, not copy.
    const net =
      options.net ??
      selectUdpNetwork(options.udpIo ?? 'mmsg', {
        logger: options.logger ?? silentLogger,
        lendViews: true,
      });
    const sockets = await bindGrid(net, options.listen, options.alternate);
    const server = new StunServer(sockets, options);
    try {
      if (options.tcp) {
        server.#tcp = await listenTcp(server.#grid[0][0], {
          clock: options.clock ?? systemClock,
          logger: server.#logger,
          handle: (data, from) => server.#decide(data, from, [0, 0], 'tcp'),
          onConnection: () => server.stats.tcpConnections++,
          onRefused: () => server.stats.tcpRefused++,
          onSlowReader: () => server.stats.tcpSlowReaders++,
        });
      }
    } catch (err) {
      await server.close();
      throw err;
    }
    server.#logger.info('stun server listening', {
      udp: server.addresses().map((e) => `${e.address}:${e.port}`),
      tcp: server.#tcp
        ? `${server.#tcp.address().address}:${server.#tcp.address().port}`
        : undefined,
    });
    return server;
  }

  /** Every UDP transport address served, primary first. */
  addresses(): Endpoint[] {
    return [this.#grid[0][0], this.#grid[0][1], this.#grid[1][0], this.#grid[1][1]].filter(
      (e): e is Endpoint => e !== undefined,
    );
  }

  get primary(): Endpoint {
    return this.#grid[0][0];
  }

  /** RFC 5780 OTHER-ADDRESS as seen by a client of the primary address. */
  get other(): Endpoint | undefined {
    return this.#grid[1][1] ?? this.#grid[0][1] ?? this.#grid[1][0];
  }

  tcpAddress(): Endpoint | undefined {
    return this.#tcp?.address();
  }

  async close(): Promise<void> {
    await Promise.all([...this.#sockets.flat().map((s) => s?.close()), this.#tcp?.close()]);
  }

  #onDatagram(data: Uint8Array, from: Endpoint, at: readonly [number, number]): void {
    // The common case (a bare Binding request from IPv4, binding-responder.ts) answered here
    // with the same checks as #decide, without a Decision object per answer.
    const bare = bareBindingReply(this.#config, data, from, at);
    if (bare !== undefined) {
      this.stats.received++;
      if (this.#limiter && !this.#limiter.allow(from.address)) {
        this.stats.dropped['rate-limited']++;
        return;
      }
      if (!this.#replyBytes.take(bare.length + IPV4_UDP_HEADER_BYTES, this.#clock.now())) {
        this.stats.dropped['reply-budget']++;
        return;
      }
      this.stats.answered.binding++;
      return this.#send(at, bare, from);
    }
    const d = this.#decide(data, from, at, 'udp');
    if (d.kind === 'reply') this.#send(d.via, d.bytes, d.to);
  }

  #onSocketError(err: Error): void {
    if (err instanceof UdpDropError) {
      this.stats.dropped[err.reason] += err.count;
      this.#logger.debug('stun datagrams dropped', { reason: err.reason, count: err.count });
      return;
    }
    this.#logger.warn('stun server socket error', { err: err.message });
  }

  #send(via: readonly [number, number], bytes: Uint8Array, to: Endpoint): void {
    try {
      this.#sockets[via[0]]![via[1]]!.send(bytes, to);
    } catch (err) {
      // Background path: count and log, never throw (STYLE.md §7).
      this.stats.dropped['send-failed']++;
      this.#logger.debug('stun send failed', { err: String(err) });
    }
  }

  #decide(
    data: Uint8Array,
    from: Endpoint,
    at: readonly [number, number],
    transport: 'udp' | 'tcp',
  ): Decision {
    this.stats.received++;
    if (this.#limiter && !this.#limiter.allow(from.address)) {
      this.stats.dropped['rate-limited']++;
      return { kind: 'drop', reason: 'rate-limited' };
    }
    const d = respond(this.#config, data, from, at, transport);
    if (d.kind === 'drop') {
      this.stats.dropped[d.reason]++;
      return d;
    }
    if (transport === 'udp') {
      const wire =
        d.bytes.length +
        (d.to.address.includes(':') ? IPV6_UDP_HEADER_BYTES : IPV4_UDP_HEADER_BYTES);
      if (!this.#replyBytes.take(wire, this.#clock.now())) {
        this.stats.dropped['reply-budget']++;
        return { kind: 'drop', reason: 'reply-budget' };
      }
    }
    this.stats.answered[d.what]++;
    return d;
  }
}

function replyBudget(option: number | undefined): number {
  const b = option ?? SERVER_DEFAULTS.replyBytesPerSecond;
  if (!(b >= 1) || b === Infinity) {
    throw new RangeError('replyBytesPerSecond must be a finite number >= 1');
  }
  return b;
}

async function bindGrid(
  net: UdpNetwork,
  listen: Endpoint,
  alternate: StunServerOptions['alternate'],
): Promise<(UdpSocket | undefined)[][]> {
  const opened: UdpSocket[] = [];
  const bind = async (address: string, port: number): Promise<UdpSocket> => {
    const s = await net.bindUdp({ address, port });
    opened.push(s);
    return s;
  };
  try {
    const primary = await bind(listen.address, listen.port);
    const p1 = primary.address().port;
    const altPort =
      alternate?.port !== undefined ? await bind(listen.address, alternate.port) : undefined;
    const p2 = altPort?.address().port;
    const a2 = alternate?.address;
    const altAddr = a2 !== undefined ? await bind(a2, p1) : undefined;
    const altBoth = a2 !== undefined && p2 !== undefined ? await bind(a2, p2) : undefined;
    return [
      [primary, altPort],
      [altAddr, altBoth],
    ];
  } catch (err) {
    await Promise.all(opened.map((s) => s.close()));
    throw err;
  }
}
