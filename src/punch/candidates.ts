/**
 * Candidates (RFC 8445 §5.1): the transport addresses a peer offers for checks, all on the peer's
 * one UDP socket (DESIGN.md "One UDP socket per peer"):
 *
 *   host    each interface address × the socket's port           (same LAN, hairpin-less NATs)
 *   srflx   the socket's mapping as serve's STUN server saw it   (cone NATs)
 *   relay   a TURN allocation made FROM the socket               (fallback, RFC 8656)
 *   prflx   learned in checks (check-responder.ts): the source of an authenticated check from an
 *           address nobody offered — the symmetric NAT's real mapping toward us (RFC 8445 §7.3.1.3)
 *
 * host and srflx share one base (the socket), so checks from either are the same packets: pairs
 * are formed per base ('socket' or 'relay') as RFC 8445 §6.1.2.4 prunes them.
 */
import type { Endpoint, UdpSocket } from '../net/udp.js';
import { endpointKey, familyOf } from '../net/udp.js';
import { TurnClient } from '../relay/index.js';
import { turnEndpoint } from '../relay/client/turn-url.js';
import { readMappedAddress } from '../stun/attributes.js';
import { StunMessageBuilder } from '../stun/message-builder.js';
import { BINDING_REQUEST, StunClass } from '../stun/message-type.js';
import type { StunTransactions } from '../stun/transaction.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import { PUNCH_DEFAULTS, PUNCH_LIMITS, TYPE_PREFERENCE } from './constants.js';

export type CandidateType = 'host' | 'srflx' | 'prflx' | 'relay';
/** Where checks from a local candidate leave: the socket itself, or the TURN allocation. */
export type CandidateBase = 'socket' | 'relay';

export interface Candidate {
  readonly type: CandidateType;
  readonly address: string;
  readonly port: number;
  /** RFC 8445 §5.1.2.1 priority. */
  readonly priority: number;
}

/**
 * RFC 8445 §5.1.2.1: priority = 2^24 × type preference + 2^8 × local preference + (256 − component).
 * One component (1). Local preference 65535 for the only interface, lower for further ones
 * (§5.1.2.2: distinct per interface), so the first listed interface wins ties.
 */
export function candidatePriority(type: CandidateType, localPreference = 65535): number {
  if (!Number.isInteger(localPreference) || localPreference < 0 || localPreference > 65535)
    throw new RangeError(`local preference must be 0..65535, got ${localPreference}`);
  return TYPE_PREFERENCE[type] * 2 ** 24 + localPreference * 2 ** 8 + (256 - 1);
}

export function baseOf(type: CandidateType): CandidateBase {
  return type === 'relay' ? 'relay' : 'socket';
}

export function candidateKey(c: { address: string; port: number }): string {
  return endpointKey(c);
}

/** Credentials for serve's relay, as `Peer.turnCredentials()` returns them. */
export interface RelayCredentials {
  username: string;
  password: string;
  /** Unix seconds after which the relay refuses them. */
  expires?: number;
  /**
   * RFC 7065 `turn:` URIs of the relay these credentials are for (serve picks one relay of its
   * fleet per request, issue 12): the allocation is made at their UDP one, with their TCP one as
   * the fallback. Absent: the gatherer's fixed `turn.server` / `turn.tcpServer`.
   */
  urls?: readonly string[];
}

/**
 * Allocating again after the allocation was lost (its relay died): attempts and the first
 * delay, doubling up to the cap. Each attempt asks serve for fresh credentials, and a relay that
 * died leaves serve's rotation within its TTL (seconds), so a few attempts over ~2 minutes find a
 * live one; then the relay rung stays off until a punch asks again (`ensureRelay`), rather than
 * asking serve forever for a fleet that is gone.
 */
const REALLOCATE = { attempts: 6, firstDelayMs: 1_000, maxDelayMs: 30_000 };
/**
 * After an allocation was lost because its relay stopped answering, fresh credentials that still
 * name that relay are not tried for this long: serve keeps a dead relay in its rotation until its
 * record expires (RELAY_FLEET.ttlMs, 6 s, plus a serve refresh), and an Allocate to it costs a
 * whole request timeout (3 s) before the next attempt — time in which the punch waiting for the
 * new relayed candidate gives up (relay-move.test.ts). Passed over, the attempt fails at once and
 * the next one asks serve again (REALLOCATE). A relay that answered with an error (437: it
 * restarted, it is alive) is not passed over.
 */
const SILENT_RELAY_SKIP_MS = 10_000;

/** How an allocation was lost: `silent` when its relay stopped answering (dead, not a 437). */
export interface RelayLoss {
  silent: boolean;
}

export interface GathererOptions {
  socket: UdpSocket;
  /** The engine whose `send` is `socket.send` (and fed the socket's STUN responses). */
  transactions: StunTransactions;
  clock: Clock;
  logger?: Logger;
  /** Local interface addresses for host candidates (injected: os.networkInterfaces() in
   *  production, the host's addresses in tests). Loopback and link-local are skipped. */
  interfaces: () => readonly string[];
  /** serve's STUN server, for the server-reflexive candidate. */
  stunServer?: Endpoint;
  /** serve's TURN server and a source of short-lived credentials for it; `tcpServer`: its TCP
   *  endpoint, for the allocation when UDP gets no answer (TurnClientOptions.tcpFallback).
   *  Credentials that carry `urls` name their own relay instead (a fleet). */
  turn?: { server: Endpoint; tcpServer?: Endpoint; credentials: () => Promise<RelayCredentials> };
  gatherTimeoutMs?: number;
  /** More candidates on the same socket, e.g. a router port mapping (punch/portmap) or
   *  predicted ports (punch/predicted-candidates); given the host and srflx ones gathered. */
  extraCandidates?: (gathered: readonly Candidate[]) => readonly Candidate[];
}

/**
 * Gathers host, srflx and relay candidates and keeps the relay allocation alive: the TurnClient
 * refreshes the allocation itself; credentials are fetched again before they expire and the
 * allocation re-made with them (a TURN allocation's username cannot change, RFC 8656 §7.2).
 */
export class CandidateGatherer {
  readonly #o: GathererOptions;
  readonly #log: Logger;
  #relay: TurnClient | undefined;
  #srflx: Endpoint | undefined;
  #renewTimer: TimerHandle | undefined;
  #allocating: Promise<TurnClient | undefined> | undefined;
  #retryTimer: TimerHandle | undefined;
  /** The relay whose allocation was lost by silence, passed over until `until` (SILENT_RELAY_SKIP_MS). */
  #silent: { key: string; until: number } | undefined;
  #closed = false;
  readonly #relayListeners = new Set<(relay: TurnClient | undefined, lost?: RelayLoss) => void>();

  constructor(options: GathererOptions) {
    this.#o = options;
    this.#log = options.logger ?? silentLogger;
  }

  /** The TURN allocation made from the socket, if any. */
  get relay(): TurnClient | undefined {
    return this.#relay;
  }

  /** Called when the relay allocation is replaced (credential renewal) or lost. */
  onRelayChange(cb: (relay: TurnClient | undefined, lost?: RelayLoss) => void): () => void {
    this.#relayListeners.add(cb);
    return () => this.#relayListeners.delete(cb);
  }

  hostCandidates(): Candidate[] {
    const port = this.#o.socket.address().port;
    const family = familyOf(this.#o.socket.address().address);
    return this.#o
      .interfaces()
      .filter((a) => familyOf(a) === family && !isLoopbackOrLinkLocal(a))
      .slice(0, PUNCH_LIMITS.maxHostCandidates)
      .map((address, i) => ({
        type: 'host' as const,
        address,
        port,
        priority: candidatePriority('host', 65535 - i),
      }));
  }

  /**
   * Everything that answers within `gatherTimeoutMs`: host at once, srflx after one STUN round
   * trip, relay after the Allocate exchange. A server that does not answer costs its candidate,
   * never the gathering.
   *
   * `waitRelay: false` (the connector's way) neither waits for nor makes a relay allocation that
   * is not there yet (`ensureRelay` makes it in the background and `onRelayChange` announces it),
   * so the direct candidates — and the checks on them — never wait for the TURN credentials and
   * the Allocate exchange (~3 round trips to serve); the relayed one is trickled after them.
   */
  async gather(signal?: AbortSignal, o: { waitRelay?: boolean } = {}): Promise<Candidate[]> {
    const out = this.hostCandidates();
    const timeoutMs = this.#o.gatherTimeoutMs ?? PUNCH_DEFAULTS.gatherTimeoutMs;
    let relayNow: Promise<TurnClient | undefined> | TurnClient | undefined = this.#relay;
    if (this.#o.turn && !this.#relay && o.waitRelay !== false)
      relayNow = this.#allocateOnce(timeoutMs);
    const stun = this.#stunServer();
    const [srflx, relay] = await Promise.all([
      stun ? this.#reflexive(stun, timeoutMs, signal) : undefined,
      relayNow,
    ]);
    // (A TCP allocation's mapped address is the TCP connection's: no UDP candidate.)
    this.#srflx =
      srflx ??
      (relay?.mappedAddress.port && relay.transport === 'udp' ? relay.mappedAddress : undefined);
    if (this.#srflx && !out.some((c) => candidateKey(c) === candidateKey(this.#srflx!))) {
      out.push({ type: 'srflx', ...plain(this.#srflx), priority: candidatePriority('srflx') });
    }
    for (const c of this.#o.extraCandidates?.([...out]) ?? []) {
      if (!out.some((o) => candidateKey(o) === candidateKey(c))) out.push(c);
    }
    if (relay && !relay.closed) {
      out.push({
        type: 'relay',
        ...plain(relay.relayedAddress),
        priority: candidatePriority('relay'),
      });
    }
    return out;
  }

  /**
   * Make the relay allocation in the background if there is none (a punch needs it; a warm
   * punch layer does not hold one until then: an allocation per logged-in peer would cost serve's
   * relay memory and refreshes for peers that never punch). Announced through `onRelayChange`.
   */
  ensureRelay(): void {
    if (!this.#o.turn || this.#relay || this.#closed) return;
    if (this.#allocating) return; // announced by whoever started it
    const timeoutMs = this.#o.gatherTimeoutMs ?? PUNCH_DEFAULTS.gatherTimeoutMs;
    void this.#allocateOnce(timeoutMs).then((r) => {
      if (r && !this.#closed) for (const l of this.#relayListeners) l(r);
    });
  }

  /**
   * Something on the relay stopped answering (a relayed path's consent checks): Refresh the
   * allocation now; if the relay is gone the allocation is reported lost and made again.
   */
  checkRelay(): void {
    void this.#relay?.probe();
  }

  /** Release the relay allocation (the socket stays open: it is the peer's). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#renewTimer?.cancel();
    this.#retryTimer?.cancel();
    const r = this.#relay;
    this.#relay = undefined;
    await r?.close();
  }

  async #reflexive(
    server: Endpoint,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Endpoint | undefined> {
    const req = new StunMessageBuilder(BINDING_REQUEST).addFingerprint().build();
    try {
      const res = await this.#o.transactions.start(server, req, { timeoutMs, signal });
      if (res.message.cls !== StunClass.Success) return undefined;
      return readMappedAddress(res.message);
    } catch (err) {
      this.#log.debug('no server-reflexive candidate', { err: String(err) });
      return undefined;
    }
  }

  /** Sessions gathering at the same time share one Allocate: a second one from the same
   *  socket would only get 437 Allocation Mismatch (RFC 8656 §7.2). */
  #allocateOnce(timeoutMs: number): Promise<TurnClient | undefined> {
    this.#allocating ??= this.#allocate(timeoutMs).finally(() => (this.#allocating = undefined));
    return this.#allocating;
  }

  async #allocate(timeoutMs: number): Promise<TurnClient | undefined> {
    const turn = this.#o.turn!;
    try {
      const creds = await turn.credentials();
      // The relay these credentials were minted for (serve's choice from its fleet).
      const server = (creds.urls && turnEndpoint(creds.urls, 'udp')) ?? turn.server;
      const tcpServer = creds.urls ? turnEndpoint(creds.urls, 'tcp') : turn.tcpServer;
      const silent = this.#silent;
      if (silent && endpointKey(server) === silent.key && this.#o.clock.now() < silent.until)
        throw new Error(`serve still names ${silent.key}, whose allocation was lost by silence`);
      const client = await TurnClient.allocate({
        server,
        username: creds.username,
        password: creds.password,
        socket: this.#o.socket,
        ...(tcpServer ? { tcpFallback: tcpServer } : {}),
        clock: this.#o.clock,
        logger: this.#log,
        requestTimeoutMs: timeoutMs,
      });
      if (this.#closed) {
        await client.close();
        return undefined;
      }
      this.#relay = client;
      client.onLost((reason) => this.#onLost(client, reason));
      this.#scheduleRenewal(creds);
      return client;
    } catch (err) {
      this.#log.debug('no relayed candidate', { err: String(err) });
      return undefined;
    }
  }

  /**
   * Before the credentials expire, release the allocation and make a new one with fresh ones.
   * The old allocation must go first: the server keys allocations by 5-tuple, and the shared
   * socket's 5-tuple would get 437 Allocation Mismatch (RFC 8656 §7.2) while it lives.
   */
  #scheduleRenewal(creds: RelayCredentials): void {
    if (creds.expires === undefined) return;
    const at = creds.expires * 1000 - PUNCH_DEFAULTS.relayCredentialMarginMs;
    const inMs = Math.max(1_000, at - this.#o.clock.now());
    this.#renewTimer = this.#o.clock.setTimeout(() => {
      void (async () => {
        const old = this.#relay;
        this.#relay = undefined;
        await old?.close().catch(() => {});
        const fresh = this.#closed
          ? undefined
          : await this.#allocate(this.#o.gatherTimeoutMs ?? PUNCH_DEFAULTS.gatherTimeoutMs);
        for (const l of this.#relayListeners) l(fresh);
        if (!fresh) this.#reallocate(0);
      })();
    }, inMs);
  }

  /**
   * The allocation is gone (its relay died or forgot it): drop it at once — the connector then
   * stops offering its candidate and a session on it falls back to server-routed — and allocate
   * again with fresh credentials, which name a live relay of the fleet.
   */
  #onLost(client: TurnClient, reason: string): void {
    if (this.#relay !== client || this.#closed) return;
    this.#log.info('relay allocation lost; allocating again', { reason });
    const silent = /did not answer|no Refresh answered/.test(reason);
    if (silent)
      this.#silent = {
        key: endpointKey(client.server),
        until: this.#o.clock.now() + SILENT_RELAY_SKIP_MS,
      };
    this.#relay = undefined;
    this.#renewTimer?.cancel();
    void client.close().catch(() => {});
    for (const l of this.#relayListeners) l(undefined, { silent });
    this.#reallocate(0);
  }

  /** One more allocation attempt after a backoff delay, up to REALLOCATE.attempts. */
  #reallocate(attempt: number): void {
    if (this.#closed || attempt >= REALLOCATE.attempts) return;
    this.#retryTimer?.cancel();
    const delay = Math.min(REALLOCATE.maxDelayMs, REALLOCATE.firstDelayMs * 2 ** attempt);
    this.#retryTimer = this.#o.clock.setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#closed || this.#relay) return; // a punch's ensureRelay made one meanwhile
      const timeoutMs = this.#o.gatherTimeoutMs ?? PUNCH_DEFAULTS.gatherTimeoutMs;
      void this.#allocateOnce(timeoutMs).then((r) => {
        if (this.#closed) return;
        if (r) for (const l of this.#relayListeners) l(r);
        else this.#reallocate(attempt + 1);
      });
    }, delay);
  }

  /**
   * Where the srflx Binding goes. A STUN server that is the relay itself (serve's relay answers
   * Binding, RFC 8656 §4) follows the allocation when it moved to another relay: the first one
   * may be dead.
   */
  #stunServer(): Endpoint | undefined {
    const stun = this.#o.stunServer;
    const r = this.#relay;
    const turn = this.#o.turn;
    // The relay that went silent under our allocation is the STUN server too: asking it costs
    // the gather its whole timeout (3 s) and every punch begun meanwhile waits for that. The new
    // allocation's mapped address is the srflx candidate then (see `gather`).
    const silent = this.#silent;
    if (!r && stun && silent && endpointKey(stun) === silent.key) {
      if (this.#o.clock.now() < silent.until) return undefined;
    }
    if (!stun || !r || r.transport !== 'udp' || !turn) return stun;
    return endpointKey(stun) === endpointKey(turn.server) ? r.server : stun;
  }
}

function plain(e: Endpoint): { address: string; port: number } {
  return { address: e.address, port: e.port };
}

function isLoopbackOrLinkLocal(a: string): boolean {
  return a.startsWith('127.') || a === '::1' || a.startsWith('169.254.') || /^fe80:/i.test(a);
}
