/**
 * The HTTP API's per-address rate limit counts an IPv6 /64 as one address (http-api.ts, with
 * stun/rate-limiter.ts sourceKey, as serve's WebSocket connection limit does). A subscriber's
 * prefix holds 2^64 addresses: keyed per address, a client that rotates its source within its
 * /64 had a fresh bucket for every request, and each request can be a login challenge written
 * to the store (Redis on a cluster).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { ServerContext } from '../../../src/signaling/context.js';
import { HttpApi } from '../../../src/signaling/http-api.js';
import { ManualClock } from '../../../src/util/clock.js';
import { silentLogger } from '../../../src/util/logger.js';

function api(): HttpApi {
  const ctx = {
    clock: new ManualClock(),
    logger: silentLogger,
    closing: false,
    limits: { httpRatePerSecond: 1, httpRateBurst: 2, maxTrackedHttpAddresses: 100 },
    metrics: { errors: { inc: () => {} } },
  };
  return new HttpApi(ctx as unknown as ServerContext);
}

/** One `GET /v1/nope` from `address`: the status answered (404 if let through, 429 if not). */
function status(h: HttpApi, address: string): Promise<number> {
  return new Promise((resolve) => {
    const req = { url: '/v1/nope', method: 'GET', headers: {}, socket: { remoteAddress: address } };
    const res = {
      destroyed: false,
      writableEnded: false,
      headersSent: false,
      writeHead(code: number) {
        resolve(code);
        return this;
      },
      end() {},
    };
    h.handle(req as unknown as IncomingMessage, res as unknown as ServerResponse);
  });
}

describe('HTTP rate limit per IPv6 /64', () => {
  it('addresses rotated within one /64 share one bucket; another /64 and IPv4 have their own', async () => {
    const h = api();
    const got: number[] = [];
    for (let i = 1; i <= 4; i++) got.push(await status(h, `2001:db8:1:2::${i.toString(16)}`));
    expect(got).toEqual([404, 404, 429, 429]);
    expect(await status(h, '2001:db8:1:3::1')).toBe(404);
    expect(await status(h, '192.0.2.1')).toBe(404);
    expect(await status(h, '::ffff:192.0.2.1')).toBe(404);
    expect(await status(h, '192.0.2.1')).toBe(429);
  });
});
