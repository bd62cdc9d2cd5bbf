/**
 * The signaling connection a `Peer` (peer.ts) holds: its `PeerOptions` turned into the
 * `SignalingClient`'s, checked at the edge (STYLE.md §5). `connectTimeoutMs` bounds the whole
 * first connect (first-welcome.ts); one attempt's opening handshake gets at most 10 s of it.
 */
import { SignalingClient } from '../signaling/client.js';
import type { Identity } from '../signaling/identity.js';
import type { Clock } from '../util/clock.js';
import { silentLogger } from '../util/logger.js';
import type { PeerOptions } from './peer-types.js';

export function peerSignalingClient(
  o: PeerOptions,
  identity: Identity,
  clock: Clock,
): SignalingClient {
  if (o.connectTimeoutMs !== undefined && !(o.connectTimeoutMs > 0))
    throw new RangeError(`connectTimeoutMs must be > 0, got ${o.connectTimeoutMs}`);
  return new SignalingClient({
    url: o.server,
    identity,
    clock,
    logger: o.logger ?? silentLogger,
    ...(o.peerToken ? { peerToken: o.peerToken } : {}),
    ...(o.region !== undefined ? { region: o.region } : {}),
    ...(o.backoff ? { backoff: o.backoff } : {}),
    ...(o.wsOptions ? { wsOptions: o.wsOptions } : {}),
    ...(o.connectTimeoutMs !== undefined
      ? { handshakeTimeoutMs: Math.min(10_000, o.connectTimeoutMs) }
      : {}),
  });
}
