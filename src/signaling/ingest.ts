/**
 * Accepting a notification, whoever sends it (a peer over WebSocket, an app over HTTP): check the
 * recipient, stamp time and expiry, store durably, count. Shared so both paths mean the same.
 */
import type { ServerContext } from './context.js';
import { SignalingError, SignalingErrorCode } from './errors.js';
import type { Notification } from './protocol.js';

export type IngressPath = 'websocket' | 'http';

export interface NotifyRequest {
  id: string;
  from: string;
  to: string;
  topic?: string | undefined;
  body: string;
  ttl?: number | undefined;
}

export interface IngestResult {
  id: string;
  online: boolean;
  duplicate: boolean;
  expires: number;
}

export async function ingest(
  ctx: ServerContext,
  r: NotifyRequest,
  path: IngressPath,
): Promise<IngestResult> {
  if (ctx.closing)
    throw new SignalingError(SignalingErrorCode.SHUTTING_DOWN, 'server is shutting down');
  const known = ctx.mailbox.checkKnown(r.to);
  if (known !== true && !(await known)) {
    throw new SignalingError(
      SignalingErrorCode.UNKNOWN_PEER,
      `peer ${r.to} has never registered here`,
    );
  }
  const ts = ctx.clock.now();
  const ttl = r.ttl ?? ctx.limits.defaultTtlSeconds;
  const n: Notification = {
    id: r.id,
    from: r.from,
    to: r.to,
    topic: r.topic ?? '',
    body: r.body,
    ts,
    expires: ts + ttl * 1000,
  };
  const res = await ctx.mailbox.accept(n);
  if (!res.duplicate) ctx.metrics.notificationsIn.inc({ path });
  return {
    id: r.id,
    // A shared store saw every node's connections at the commit; presence sees this node's.
    online: res.online ?? ctx.presence.isOnline(r.to) !== undefined,
    duplicate: res.duplicate,
    expires: n.expires,
  };
}

/** The error to report for a rejected notify/post: typed errors pass, anything else is INTERNAL. */
export function asSignalingError(err: unknown): SignalingError {
  if (err instanceof SignalingError) return err;
  return new SignalingError(SignalingErrorCode.INTERNAL, 'internal error', { cause: err });
}
