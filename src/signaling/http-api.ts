/**
 * The HTTP API (node:http), for application servers and for clients without WebSockets:
 *
 * | method | path                           | auth          | answer                                   |
 * | ------ | ------------------------------ | ------------- | ---------------------------------------- |
 * | POST   | /v1/peers/{id}/notifications   | API key       | 202 {id, online, duplicate, expires}     |
 * | GET    | /v1/peers/{id}                 | API key       | 200 {peer, online, transport?, mailbox}  |
 * | POST   | /v1/challenge                  | (peer token)  | 200 {server, nonce, expires}             |
 * | POST   | /v1/session                    | signature     | 200 {sessionToken, expires}              |
 * | GET    | /v1/events                     | session token | SSE: `deliver` events                    |
 * | GET    | /v1/poll?wait=ms&ack=id,…      | session token | 200 {notifications: [...]}               |
 * | POST   | /v1/acks                       | session token | 200 {acked}                              |
 * | GET    | /healthz                       | —             | 200 {ok, connections, online, mailbox}   |
 * | GET    | /metrics                       | —             | Prometheus text                          |
 *
 * Errors are `{error: {code, message}}` with the status from errors.ts `HTTP_STATUS`.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerContext } from './context.js';
import { SignalingError, SignalingErrorCode } from './errors.js';
import { PollSession, SseSession } from './http-transports.js';
import { bearer, isClientGone, readJson, sendError, sendJson } from './http-util.js';
import { isPeerId } from './identity.js';
import { asSignalingError, ingest } from './ingest.js';
import { clusterPeerStatus } from '../cluster/peer-status.js';
import { httpAcks, httpChallenge, httpNotify, httpSession, ID_PATTERN } from './protocol.js';
import { sourceKey } from '../stun/rate-limiter.js';
import { KeyedRateLimiter } from '../util/token-bucket.js';
import { storeFailure } from './store/failure.js';
import { consumeClusterChallenge, issueClusterChallenge } from '../cluster/cluster-challenges.js';
import { issueTurnCredentials } from './turn-credentials.js';

const PEER_PATH = /^\/v1\/peers\/([^/]+)(\/notifications)?$/;

/**
 * The request target as a URL. Only origin-form (`/path?query`, RFC 9112 §3.2.1) is served;
 * it is appended to a fixed origin so `//host/x` stays a path. Anything else is BAD_REQUEST.
 */
function requestUrl(target: string | undefined): URL {
  if (!target?.startsWith('/'))
    throw new SignalingError(SignalingErrorCode.BAD_REQUEST, 'request target must be a path');
  try {
    return new URL('http://natpush.invalid' + target);
  } catch {
    throw new SignalingError(SignalingErrorCode.BAD_REQUEST, 'request target is not a URL path');
  }
}

/** Percent-decode one path segment; a malformed escape (`%zz`, cut UTF-8) is BAD_REQUEST. */
function decodePathSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new SignalingError(SignalingErrorCode.BAD_REQUEST, 'bad percent-escape in the path');
  }
}

export class HttpApi {
  /** Long-poll session per peer; at most `LIMITS.maxPollSessions` (see constants.ts). */
  readonly #polls = new Map<string, PollSession>();
  /** Per-address token buckets: at most `LIMITS.maxTrackedHttpAddresses`, oldest forgotten. */
  readonly #rates: KeyedRateLimiter;

  constructor(private readonly ctx: ServerContext) {
    this.#rates = new KeyedRateLimiter(
      {
        ratePerSecond: ctx.limits.httpRatePerSecond,
        burst: ctx.limits.httpRateBurst,
        maxKeys: ctx.limits.maxTrackedHttpAddresses,
      },
      ctx.clock,
    );
  }

  /** Per IPv4 address or IPv6 /64 (sourceKey): one subscriber's prefix holds 2^64 addresses,
   *  each of which had a bucket of its own (as the WebSocket limit in server.ts counts them). */
  #rateLimited(req: IncomingMessage): boolean {
    return !this.#rates.allow(sourceKey(req.socket.remoteAddress ?? '?'));
  }

  /** Route one request; never throws (errors become typed error responses). */
  handle(req: IncomingMessage, res: ServerResponse): void {
    this.#route(req, res).catch((err: unknown) => {
      if (isClientGone(err)) {
        // The client reset or aborted: its doing, nobody to answer (issue 8, finding 11).
        this.ctx.logger.debug('http client went away', {
          path: req.url?.slice(0, 200),
          err: String((err as { cause?: unknown }).cause ?? err),
        });
        res.destroy();
        return;
      }
      const e = asSignalingError(err);
      if (e.code === SignalingErrorCode.INTERNAL)
        this.ctx.logger.error('http handler failed', { err: String(err) });
      this.ctx.metrics.errors.inc({ code: e.code });
      sendError(res, e);
    });
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = requestUrl(req.url);
    const method = req.method ?? 'GET';
    const p = url.pathname;
    if (method === 'GET' && p === '/healthz') return this.#health(res);
    if (method === 'GET' && p === '/readyz') return this.#ready(res);
    if (method === 'GET' && p === '/metrics') return this.#metrics(res);
    if (this.#rateLimited(req)) {
      throw new SignalingError(
        SignalingErrorCode.RATE_LIMITED,
        'too many requests from this address',
      );
    }
    if (this.ctx.closing)
      throw new SignalingError(SignalingErrorCode.SHUTTING_DOWN, 'server is shutting down');
    const m = PEER_PATH.exec(p);
    if (m) {
      const id = decodePathSegment(m[1] ?? '');
      if (method === 'POST' && m[2]) return this.#postNotification(req, res, id);
      if (method === 'GET' && !m[2]) return this.#getPeer(req, res, id);
    }
    if (method === 'POST' && p === '/v1/challenge') return this.#challenge(req, res);
    if (method === 'POST' && p === '/v1/session') return this.#session(req, res);
    if (method === 'GET' && p === '/v1/events') return this.#events(req, res, url);
    if (method === 'GET' && p === '/v1/poll') return this.#poll(req, res, url);
    if (method === 'POST' && p === '/v1/acks') return this.#acks(req, res, url);
    if (method === 'POST' && p === '/v1/turn-credentials')
      return this.#turnCredentials(req, res, url);
    throw new SignalingError(SignalingErrorCode.NOT_FOUND, `no route for ${method} ${p}`);
  }

  #health(res: ServerResponse): void {
    sendJson(res, 200, {
      ok: !this.ctx.closing,
      server: this.ctx.serverId,
      online: this.ctx.presence.onlineCount,
      mailbox: this.ctx.mailbox.store.totalDepth(),
    });
  }

  /**
   * Readiness for a load balancer: 503 while shutting down (drain) or, on a cluster node, while
   * Redis is unreachable (a notification could not be accepted). /healthz stays liveness.
   */
  #ready(res: ServerResponse): void {
    const cluster = this.ctx.cluster;
    const ready = !this.ctx.closing && (cluster === undefined || cluster.ready);
    sendJson(res, ready ? 200 : 503, {
      ready,
      server: this.ctx.serverId,
      ...(cluster ? { node: cluster.id, redis: cluster.ready ? 'up' : 'down' } : {}),
    });
  }

  #metrics(res: ServerResponse): void {
    const m = this.ctx.metrics.registry;
    m.render().then(
      (text) => {
        res.writeHead(200, { 'content-type': m.contentType });
        res.end(text);
      },
      () => {
        res.writeHead(500);
        res.end();
      },
    );
  }

  #apiKey(req: IncomingMessage): string {
    const label = this.ctx.admission.apiKeyFrom(req.headers.authorization);
    if (!label)
      throw new SignalingError(
        SignalingErrorCode.API_KEY_REQUIRED,
        'Authorization: Bearer <api key> required',
      );
    return label;
  }

  #peerParam(id: string): string {
    if (!isPeerId(id))
      throw new SignalingError(SignalingErrorCode.BAD_FRAME, 'peer id: 32 chars of base32');
    if (!this.ctx.mailbox.isKnown(id))
      throw new SignalingError(
        SignalingErrorCode.UNKNOWN_PEER,
        `peer ${id} has never registered here`,
      );
    return id;
  }

  async #postNotification(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    const from = this.#apiKey(req);
    // Known or not is ingest's answer: on a cluster node it may ask Redis (ingest.ts).
    if (!isPeerId(id))
      throw new SignalingError(SignalingErrorCode.BAD_FRAME, 'peer id: 32 chars of base32');
    const to = id;
    const b = await readJson(req, httpNotify, this.ctx.limits.maxHttpBodyBytes);
    const r = await ingest(
      this.ctx,
      {
        id: b.id ?? randomBytes(16).toString('base64url'),
        from,
        to,
        topic: b.topic,
        body: b.body,
        ttl: b.ttl,
      },
      'http',
    );
    sendJson(res, 202, r);
  }

  /**
   * Presence and mailbox depth of a peer: for the application server (API key) only. A peer's
   * session token gets the same 401 whatever the id (known, unknown, hidden, malformed), so it
   * learns nothing (issue 8, finding 5); peers see presence through `watch` and `allow`.
   */
  async #getPeer(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    this.#apiKey(req);
    const peer = this.#peerParam(id);
    let t = this.ctx.presence.isOnline(peer);
    let mailbox = this.ctx.mailbox.store.depth(peer);
    // A cluster node answers for peers on every node (../cluster/peer-status.ts).
    if (this.ctx.cluster && t === undefined)
      ({ transport: t, mailbox } = await clusterPeerStatus(this.ctx.cluster, peer));
    sendJson(res, 200, {
      peer,
      online: t !== undefined,
      ...(t ? { transport: t } : {}),
      mailbox,
    });
  }

  async #challenge(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const b = await readJson(req, httpChallenge, this.ctx.limits.maxHttpBodyBytes);
    if (!this.ctx.admission.admitsPeer(b.peer, b.token)) {
      throw new SignalingError(
        SignalingErrorCode.ADMISSION_DENIED,
        'a valid peer token is required to register here',
      );
    }
    // In a cluster the answer may reach another node (no sticky sessions): the challenge is
    // kept in Redis (cluster-challenges.ts). A single node keeps it in memory.
    const cluster = this.ctx.cluster;
    const c = cluster
      ? await issueClusterChallenge(cluster, {
          serverId: this.ctx.serverId,
          ttlMs: this.ctx.timing.challengeTtlMs,
          peer: b.peer,
        })
      : this.ctx.challenges.issue(b.peer);
    sendJson(res, 200, c);
  }

  async #session(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const b = await readJson(req, httpSession, this.ctx.limits.maxHttpBodyBytes);
    if (this.ctx.cluster) await consumeClusterChallenge(this.ctx.cluster, b);
    else this.ctx.challenges.consume(b.nonce, b.peer, b.publicKey, b.signature);
    this.ctx.mailbox.register(b.peer, b.publicKey);
    // The session token is an HTTP client's `welcome`: handed out once the registration is
    // durable (mailbox.ts `registration`).
    await this.ctx.mailbox.registration(b.peer).catch((err: unknown) => {
      throw err instanceof SignalingError ? err : storeFailure(err, 'cannot register the peer');
    });
    const t = this.ctx.sessionTokens.mint(b.peer);
    sendJson(res, 200, { peer: b.peer, sessionToken: t.token, expires: t.expires });
  }

  #tokenPeer(req: IncomingMessage, url: URL): string {
    return this.#tokenSession(req, url).peer;
  }

  #tokenSession(req: IncomingMessage, url: URL): { peer: string; expires: number } {
    const t = this.ctx.sessionTokens.open(bearer(req, url));
    if (!t)
      throw new SignalingError(
        SignalingErrorCode.NOT_AUTHENTICATED,
        'a valid session token is required',
      );
    return t;
  }

  /** The stream ends when its session token expires (it must not outlive the token). */
  #events(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const { peer, expires } = this.#tokenSession(req, url);
    new SseSession(peer, res, this.ctx, expires).start(req);
  }

  #poll(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const { peer, expires } = this.#tokenSession(req, url);
    const acks = (url.searchParams.get('ack') ?? '').split(',').filter((s) => s.length > 0);
    if (acks.length > this.ctx.limits.maxAckIds)
      throw new SignalingError(SignalingErrorCode.BAD_FRAME, 'too many acks');
    // The same alphabet as every other id (protocol.ts ID_PATTERN).
    if (!acks.every((id) => ID_PATTERN.test(id)))
      throw new SignalingError(SignalingErrorCode.BAD_FRAME, 'ack: ids of [A-Za-z0-9_.:-]{1,64}');
    // A held poll ends by the time its token expires, like an SSE stream.
    const wait = Math.min(
      Math.max(Number(url.searchParams.get('wait') ?? 0) || 0, 0),
      this.ctx.timing.maxPollWaitMs,
      expires - this.ctx.clock.now(),
    );
    let s = this.#polls.get(peer);
    if (!s || s.closed || this.ctx.delivery.session(peer) !== s) {
      if (!s && this.#polls.size >= this.ctx.limits.maxPollSessions) {
        throw new SignalingError(
          SignalingErrorCode.TOO_MANY_CONNECTIONS,
          'too many long-poll sessions; retry later',
        );
      }
      s = new PollSession(peer, this.ctx, (x) => {
        if (this.#polls.get(peer) === x) this.#polls.delete(peer);
      });
      this.#polls.set(peer, s);
      this.ctx.metrics.connections.inc({ transport: 'poll' });
      if (acks.length > 0) this.ctx.delivery.ack(peer, acks, 'poll');
      s.poll(req, res, wait);
      this.ctx.delivery.attach(s);
      return;
    }
    if (acks.length > 0) this.ctx.delivery.ack(peer, acks, 'poll');
    s.poll(req, res, wait);
  }

  async #acks(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const peer = this.#tokenPeer(req, url);
    const b = await readJson(req, httpAcks, this.ctx.limits.maxHttpBodyBytes);
    const via = this.ctx.delivery.session(peer)?.transport ?? 'sse';
    // `acked` counts the ids that named a notification in flight to this peer; others are
    // dropped (and counted in /metrics), never stored.
    sendJson(res, 200, { acked: this.ctx.delivery.ack(peer, b.ids, via) });
  }

  /**
   * TURN credentials for the session token's peer (the HTTP twin of `turn-credentials`);
   * `?region=` is the peer's own region label (`hello.region`).
   */
  #turnCredentials(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const peer = this.#tokenPeer(req, url);
    const region = url.searchParams.get('region') ?? undefined;
    if (region !== undefined && !ID_PATTERN.test(region))
      throw new SignalingError(SignalingErrorCode.BAD_FRAME, 'region: 1-64 of [A-Za-z0-9_.:-]');
    const local = req.socket.localAddress ?? '';
    sendJson(res, 200, issueTurnCredentials(this.ctx, peer, local, region));
  }

  /** End every long-poll session (shutdown). */
  closeAll(): void {
    for (const s of [...this.#polls.values()])
      s.close(SignalingErrorCode.SHUTTING_DOWN, 'server is shutting down');
  }
}
