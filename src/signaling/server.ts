/**
 * The signaling server: node:http (HTTP API, SSE, long-poll) plus a `ws` WebSocket endpoint on
 * the same port, over a mailbox store. `startSignalingServer()` binds and returns a handle whose
 * `close()` is the graceful shutdown: stop accepting, tell clients, commit what is queued, close
 * the store. Nothing accepted is lost by it (accepted = committed, see mailbox.ts).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { KeyedCounter, sourceKey } from '../stun/rate-limiter.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { Admission } from './admission.js';
import { ChallengeBook } from './challenges.js';
import { CONNECTION_LIMITS, LIMITS, TIMING } from './constants.js';
import type { Limits, ServerContext, Timing } from './context.js';
import { Delivery } from './delivery.js';
import { SignalingErrorCode } from './errors.js';
import { HttpApi } from './http-api.js';
import { endWithError } from './http-util.js';
import { Mailbox } from './mailbox.js';
import { Metrics, signalingMetrics } from './metrics.js';
import { Presence } from './presence.js';
import type { Rendezvous } from './rendezvous.js';
import { SessionTokens } from './session-tokens.js';
import type { AnyMailboxStore } from './store/store.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import { ClusterPresence } from '../cluster/remote-presence.js';
import { RendezvousPairs } from '../cluster/rendezvous-pairs.js';
import { MemoryStore } from './store/memory-store.js';
import { turnCredentialIssuer, type TurnCredentialsOptions } from './turn-credentials.js';
import { WsGateway } from './ws-gateway.js';

export interface SignalingServerOptions {
  /** TCP port; 0 picks a free one (see `address`). Default 0 here; `natpush serve` uses 8787. */
  port?: number;
  /** Listen address. Default 127.0.0.1 (the library never exposes itself unasked; `natpush serve` binds 0.0.0.0). */
  host?: string;
  /**
   * Mailbox store. Default: a new MemoryStore (nothing survives the process). With `cluster`, a
   * RedisStore on the same cluster node (store/redis-store.ts).
   */
  store?: AnyMailboxStore;
  /**
   * Membership of a Redis cluster of serve nodes (../cluster/cluster-node.ts): presence,
   * routing and rendezvous reach peers on other nodes. The server closes it on `close()`.
   */
  cluster?: ClusterNode;
  /** Peer tokens (admission); empty = open registration. */
  peerTokens?: readonly string[];
  /** API keys for HTTP posting; empty = HTTP posting refused. */
  apiKeys?: readonly string[];
  /** Override any limit of constants.ts LIMITS. */
  limits?: Partial<Limits>;
  /** Override any timing of constants.ts TIMING. */
  timing?: Partial<Timing>;
  /**
   * The TURN relay whose short-lived credentials authenticated peers may ask for
   * (`turn-credentials`). Default none: such requests get NATPUSH_ERR_RELAY_UNAVAILABLE.
   */
  turn?: TurnCredentialsOptions;
  /**
   * The relay's peer gate (serve): rendezvous frames forwarded here are recorded in it, with the
   * addresses this server sees its peers at. Default none.
   */
  rendezvous?: Rendezvous;
  /** Connection caps and HTTP timeouts; default CONNECTION_LIMITS (finding 6). */
  connections?: Partial<ConnectionLimits>;
  /** Server id bound into challenges. Default random. */
  serverId?: string;
  /**
   * Secret of the session tokens (session-tokens.ts). Default random per process; a cluster
   * shares one (`clusterSessionSecret`), so a token minted by one node is good at every node.
   */
  sessionSecret?: Buffer;
  clock?: Clock;
  logger?: Logger;
}

export type ConnectionLimits = { -readonly [K in keyof typeof CONNECTION_LIMITS]: number };

/** The soft open-file limit of this process (Linux), or undefined where it cannot be read. */
function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The caps in force: the total within half the fd limit, one address within a quarter of it. */
export function resolveConnectionLimits(
  o: Partial<ConnectionLimits> = {},
  fdLimit: number | undefined = openFileLimit(),
): ConnectionLimits {
  const l: ConnectionLimits = { ...CONNECTION_LIMITS, ...o };
  if (o.maxConnections === undefined && fdLimit !== undefined)
    l.maxConnections = Math.max(16, Math.min(l.maxConnections, Math.floor(fdLimit / 2)));
  l.maxConnectionsPerIp = Math.max(
    1,
    Math.min(l.maxConnectionsPerIp, Math.floor(l.maxConnections / 4)),
  );
  return l;
}

/**
 * Finding 6: bound who may hold connections. Beyond `maxConnections` Node itself refuses (closes
 * at once); beyond `maxConnectionsPerIp` for one address (IPv6: its /64) we close at once. A
 * closed socket costs the attacker a handshake and us nothing.
 */
function capConnections(http: Server, l: ConnectionLimits, ctx: ServerContext): void {
  http.maxConnections = l.maxConnections;
  http.headersTimeout = l.headersTimeoutMs;
  http.requestTimeout = l.requestTimeoutMs;
  http.keepAliveTimeout = l.keepAliveTimeoutMs;
  const perIp = new KeyedCounter(l.maxConnectionsPerIp);
  const firstRequest = new WeakMap<Socket, TimerHandle>();
  http.on('connection', (socket: Socket) => {
    const key = sourceKey(socket.remoteAddress ?? '');
    if (!perIp.acquire(key)) {
      ctx.metrics.drops.inc({ reason: 'connections_per_ip', type: 'connection' });
      socket.destroy();
      return;
    }
    // Node times out headers only once a request has begun: a socket that never sends a byte
    // would stay forever. It must complete its first request's headers in headersTimeoutMs.
    const silent = ctx.clock.setTimeout(() => socket.destroy(), l.headersTimeoutMs);
    firstRequest.set(socket, silent);
    socket.once('close', () => {
      silent.cancel();
      perIp.release(key);
    });
  });
  const spoke = (socket: Socket): void => {
    firstRequest.get(socket)?.cancel();
    firstRequest.delete(socket);
  };
  http.on('request', (req: IncomingMessage, res: ServerResponse) => {
    spoke(req.socket);
    // Node's own requestTimeout did not always end a trickled body in our tests (finding 6):
    // a request whose body is not complete after requestTimeoutMs loses its connection.
    if (req.complete) return;
    const t = ctx.clock.setTimeout(() => {
      if (req.complete) return;
      ctx.metrics.drops.inc({ reason: 'request_timeout', type: 'connection' });
      req.socket.destroy();
    }, l.requestTimeoutMs);
    res.once('close', () => t.cancel());
  });
  http.on('upgrade', (req: IncomingMessage) => spoke(req.socket));
  http.on('drop', () => ctx.metrics.drops.inc({ reason: 'connections_total', type: 'connection' }));
}

/**
 * Node's parser refused a request (or its headers/body took longer than the timeouts): answer
 * with a typed JSON error like every other refusal, keeping the status Node would give — 431
 * for headers over `maxHeaderSize` (RFC 6585 §5), 408 for a timeout, 400 otherwise. Nothing is
 * written when the client is gone or a response is already on the wire (a second status line
 * would corrupt the stream; Node's default handler checks the same).
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (!socket.writable || err.code === 'ECONNRESET' || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT')
    endWithError(socket, 408, SignalingErrorCode.REQUEST_TIMEOUT, 'request not received in time');
  else if (err.code === 'HPE_HEADER_OVERFLOW')
    endWithError(socket, 431, SignalingErrorCode.BAD_REQUEST, 'request headers too large');
  else
    endWithError(
      socket,
      400,
      SignalingErrorCode.BAD_REQUEST,
      `malformed HTTP request${err.code ? ` (${err.code})` : ''}`,
    );
}

export interface SignalingServer {
  readonly host: string;
  readonly port: number;
  /** `http://host:port` */
  readonly url: string;
  readonly context: ServerContext;
  /** The node:http server, so other services can share the port (composition point). */
  readonly http: Server;
  close(): Promise<void>;
}

/** The remote IP of a peer's WebSocket (WsConnection.address), for the relay's peer gate. */
function remoteAddressOf(channel: unknown): string | undefined {
  const a = (channel as { address?: unknown } | undefined)?.address;
  return typeof a === 'string' ? a : undefined;
}

function buildContext(o: SignalingServerOptions): ServerContext {
  const clock = o.clock ?? systemClock;
  const logger = o.logger ?? silentLogger;
  const limits: Limits = { ...LIMITS, ...o.limits };
  const timing: Timing = { ...TIMING, ...o.timing };
  const metrics = signalingMetrics(new Metrics());
  const serverId = o.serverId ?? 'natpush-' + randomBytes(9).toString('base64url');
  const mailbox = new Mailbox({
    store: o.store ?? new MemoryStore(),
    clock,
    logger,
    quota: limits.mailboxQuota,
    maxDelayMs: timing.groupCommitMaxDelayMs,
    earlyAckMs: timing.earlyAckMs,
  });
  const delivery = new Delivery({
    mailbox,
    clock,
    logger,
    metrics,
    window: limits.deliveryWindow,
    retryAfterMs: timing.retryAfterMs,
  });
  const presence = new Presence({ metrics, clock, punchLeadMs: timing.punchLeadMs });
  // A peer with a session is not idle, however long ago it logged in (store/peer-limits.ts).
  mailbox.store.isLive = (peer) => presence.isOnline(peer) !== undefined;
  if (o.cluster) joinCluster(o.cluster, presence, delivery, limits.maxWatchedPeers);
  const rendezvous = o.rendezvous;
  if (rendezvous) {
    presence.onForward = (from, to) => rendezvous.noteForward(from, to);
    presence.onRemoteAddress = (peer, address) => rendezvous.noteAddress(peer, address);
    rendezvous.addressOf = (peer) => remoteAddressOf(presence.channel(peer));
  }
  if (o.cluster) {
    // The fleet relays' peer gate reads the pairs from Redis (../cluster/rendezvous-pairs.ts).
    const pairs = new RendezvousPairs({ redis: o.cluster.redis, keys: o.cluster.keys, logger });
    const local = presence.onForward;
    presence.onForward = (from, to) => {
      local(from, to);
      pairs.note(from, to);
    };
  }
  return {
    serverId,
    clock,
    logger,
    limits,
    timing,
    metrics,
    admission: new Admission({ clock, peerTokens: o.peerTokens ?? [], apiKeys: o.apiKeys ?? [] }),
    challenges: new ChallengeBook({ clock, serverId, ttlMs: timing.challengeTtlMs }),
    sessionTokens: new SessionTokens(clock, timing.sessionTokenTtlMs, o.sessionSecret),
    mailbox,
    delivery,
    presence,
    turn: o.turn ? turnCredentialIssuer(o.turn) : undefined,
    rendezvous: o.rendezvous,
    cluster: o.cluster,
    closing: false,
  };
}

/** Presence, delivery and the node registry of a cluster node (../cluster). */
function joinCluster(
  cluster: ClusterNode,
  presence: Presence,
  delivery: Delivery,
  maxWatchedPeers: number,
): void {
  const remote = new ClusterPresence(
    cluster,
    presence,
    (peer) => delivery.claiming(peer),
    maxWatchedPeers,
  );
  cluster.registry.onReaped = (_node, peers) => remote.reaped(peers);
  delivery.onForeignAck = (peer, ids, via) => remote.ack(peer, ids, via);
  remote.onAck = (peer, ids, via) => delivery.ack(peer, ids, via, false);
  // Watchers that looked between a peer's presence change and its route being set see it now.
  delivery.onClaimed = (peer) => remote.changed(peer);
}

function wireEvents(ctx: ServerContext): void {
  ctx.delivery.events = {
    presence: (peer, online, transport) => ctx.presence.setOnline(peer, online, transport),
    // End-to-end ack reached the server: tell the sender if it is a connected peer.
    delivered: (r, via) => ctx.presence.delivered(r, via),
  };
}

function registerGauges(ctx: ServerContext, ws: WsGateway): void {
  const m = ctx.metrics.registry;
  m.gauge('natpush_connections', 'Open WebSocket connections.', () => ws.connectionCount);
  m.gauge(
    'natpush_peers_online',
    'Peers with a live session, any transport.',
    () => ctx.presence.onlineCount,
  );
  m.gauge('natpush_mailbox_depth', 'Notifications stored, not yet acked.', () =>
    ctx.mailbox.store.totalDepth(),
  );
  m.gauge('natpush_peers_known', 'Peers that have registered.', () => ctx.mailbox.knownCount);
  m.counterFrom(
    'natpush_registrations_dropped_total',
    'Peer registrations refused at serve --max-peers (reason peer-limit) or deleted after --peer-ttl-days without a login or session (reason idle).',
    () => Object.entries(ctx.mailbox.registrationsDropped).map(([reason, n]) => [{ reason }, n]),
    ['reason'],
  );
  m.counterFrom(
    'natpush_notifications_unwritten_total',
    'Notifications acked by their recipient before they were written, so never written (early-accepts.ts).',
    () => ctx.mailbox.unwritten,
  );
  m.gauge('natpush_store_failures', 'Mailbox commits, fsyncs, WAL checkpoints that failed.', () => {
    const f = ctx.mailbox.failures;
    return f.commit + f.sync + f.checkpoint;
  });
}

function scheduleExpiry(ctx: ServerContext): { cancel(): void } {
  let t: TimerHandle | undefined;
  const run = () => {
    try {
      const n = ctx.mailbox.store.expire(ctx.clock.now());
      if (n > 0) ctx.metrics.expired.inc({}, n);
    } catch (err) {
      ctx.logger.error('mailbox expiry failed', { err: String(err) });
    }
    t = ctx.clock.setTimeout(run, ctx.timing.expirySweepMs);
  };
  t = ctx.clock.setTimeout(run, ctx.timing.expirySweepMs);
  return { cancel: () => t?.cancel() };
}

export async function startSignalingServer(
  o: SignalingServerOptions = {},
): Promise<SignalingServer> {
  const ctx = buildContext(o);
  wireEvents(ctx);
  const ws = new WsGateway(ctx);
  const api = new HttpApi(ctx);
  registerGauges(ctx, ws);
  const expiry = scheduleExpiry(ctx);
  const limits = resolveConnectionLimits(o.connections);
  const http = createServer(
    {
      maxHeaderSize: 16 * 1024,
      connectionsCheckingInterval: limits.timeoutCheckIntervalMs,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
    },
    (req, res) => api.handle(req, res),
  );
  capConnections(http, limits, ctx);
  http.on('upgrade', (req, socket, head) => {
    if (!ws.handleUpgrade(req, socket, head)) {
      endWithError(socket, 404, SignalingErrorCode.NOT_FOUND, 'WebSocket endpoint is /v1/ws');
    }
  });
  http.on('clientError', answerClientError);
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen({ port: o.port ?? 0, host, backlog: 4096 }, () => {
      http.off('error', reject);
      resolve();
    });
  });
  const port = (http.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      ctx.closing = true;
      expiry.cancel();
      const httpClosed = new Promise<void>((r) => http.close(() => r()));
      api.closeAll();
      await ws.closeAll();
      http.closeAllConnections();
      await httpClosed;
      await ctx.mailbox.close();
      await ctx.mailbox.store.close();
      await o.cluster?.close();
      ctx.logger.info('signaling server stopped', { port });
    })());
  ctx.logger.info('signaling server listening', { host, port, server: ctx.serverId });
  return { host, port, url: `http://${urlHost}:${port}`, context: ctx, http, close };
}
