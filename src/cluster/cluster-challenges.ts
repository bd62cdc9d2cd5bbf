/**
 * HTTP login challenges shared by every node (issue 12: "challenge/nonce state" in Redis). An
 * HTTP client (SSE / long-poll) asks one node for a challenge (`POST /v1/challenge`) and may
 * send its answer (`POST /v1/session`) through a load balancer that picks another node: the
 * challenge is kept in Redis, not in the issuing node's memory (challenges.ts), so any node can
 * check the answer. A WebSocket login needs none of this: its challenge and answer travel on one
 * connection, to one node, and stay in that node's ChallengeBook.
 *
 * `challenge:{nonce}` holds the issued challenge (peer, expiry, and the issuing node's server id,
 * which the signed text names). GETDEL takes it out as the answer is checked: one answer per
 * challenge, even when two nodes receive the same answer at once (RFC-free replay protection:
 * the second GETDEL finds nothing).
 *
 * Bound: each key lives `ttlMs` + EXPIRED_GRACE_MS at most (PX), so the keys in Redis are at most
 * the HTTP challenges issued cluster-wide in that window — each one an HTTP request that the
 * nodes' per-address rate limits already bound (~150 bytes per key).
 */
import { randomBytes } from 'node:crypto';
import { SignalingError, SignalingErrorCode } from '../signaling/errors.js';
import { verifyAnswer, type IssuedChallenge } from '../signaling/challenges.js';
import type { ClusterNode } from './cluster-node.js';

/**
 * A challenge answered this long after it expired still finds its record, so the client hears
 * CHALLENGE_EXPIRED (ask again) rather than CHALLENGE_REPLAYED; later, it is gone for good.
 */
const EXPIRED_GRACE_MS = 30_000;

interface Stored {
  server: string;
  peer: string;
  expires: number;
}

function failed(err: unknown, what: string): SignalingError {
  return new SignalingError(SignalingErrorCode.STORE_FAILED, `${what}: ${String(err)}`, {
    cause: err,
  });
}

/** Issue a challenge for `peer`, kept in Redis so any node can check its answer. */
export async function issueClusterChallenge(
  cluster: ClusterNode,
  o: { serverId: string; ttlMs: number; peer: string },
): Promise<IssuedChallenge> {
  const nonce = randomBytes(18).toString('base64url');
  const expires = cluster.clock.now() + o.ttlMs;
  const rec: Stored = { server: o.serverId, peer: o.peer, expires };
  try {
    await cluster.redis.set(
      cluster.keys.challenge(nonce),
      JSON.stringify(rec),
      'PX',
      o.ttlMs + EXPIRED_GRACE_MS,
    );
  } catch (err) {
    throw failed(err, 'cannot keep the challenge');
  }
  return { server: o.serverId, nonce, expires };
}

/**
 * Check an answer to a challenge issued by any node, consuming it. Throws SignalingError:
 * CHALLENGE_REPLAYED (unknown or already answered), CHALLENGE_EXPIRED, PEER_ID_MISMATCH,
 * BAD_SIGNATURE, STORE_FAILED (Redis away: retryable).
 */
export async function consumeClusterChallenge(
  cluster: ClusterNode,
  a: { nonce: string; peer: string; publicKey: string; signature: string },
): Promise<void> {
  let raw: string | null;
  try {
    raw = await cluster.redis.getdel(cluster.keys.challenge(a.nonce));
  } catch (err) {
    throw failed(err, 'cannot read the challenge');
  }
  const c = raw === null ? undefined : parse(raw);
  if (!c) {
    throw new SignalingError(
      SignalingErrorCode.CHALLENGE_REPLAYED,
      'challenge unknown or used: a challenge is good for one answer',
    );
  }
  verifyAnswer({ ...c, nonce: a.nonce }, a, cluster.clock.now());
}

function parse(raw: string): Stored | undefined {
  try {
    const v = JSON.parse(raw) as Partial<Stored>;
    if (typeof v.server === 'string' && typeof v.peer === 'string' && typeof v.expires === 'number')
      return { server: v.server, peer: v.peer, expires: v.expires };
  } catch {
    // A record not written by this module: as good as none.
  }
  return undefined;
}
