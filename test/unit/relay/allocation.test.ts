import { describe, expect, it } from 'vitest';
import { Allocation } from '../../../src/relay/server/allocation.js';
import { isError } from '../../../src/relay/server/reply.js';
import { TokenBucket, UserQuotas } from '../../../src/relay/server/quota.js';
import { ManualClock } from '../../../src/util/clock.js';

const peerA = { address: '198.51.100.1', port: 5000 };
const peerB = { address: '198.51.100.2', port: 6000 };

function alloc(clock: ManualClock, limits = { maxPermissions: 3, maxChannels: 2 }): Allocation {
  return new Allocation({
    fiveTuple: {
      transport: 'udp',
      client: { address: '198.51.100.9', port: 1 },
      server: { address: '203.0.113.1', port: 3478 },
    },
    username: 'u',
    user: 'u',
    key: new Uint8Array(16),
    allocateTransactionId: 't',
    lifetimeS: 600,
    now: clock.now(),
    limits,
  });
}

/** The error code a refusal carries (the state returns refusals as reply values). */
function status(fn: () => unknown): number | undefined {
  const r = fn();
  return isError(r) ? r.status : undefined;
}

describe('Allocation (RFC 8656)', () => {
  it('lifetime: expires after the granted seconds, refresh extends', () => {
    const c = new ManualClock();
    const a = alloc(c);
    c.advance(599_999);
    expect(a.isExpired(c.now())).toBe(false);
    a.refresh(100, c.now());
    c.advance(100_000);
    expect(a.isExpired(c.now())).toBe(true);
  });

  it('permissions last 300 s, are per IP (any port), and refresh', () => {
    const c = new ManualClock();
    const a = alloc(c);
    a.installPermission(peerA.address, c.now());
    expect(a.hasPermission(peerA.address, c.now())).toBe(true);
    expect(a.hasPermission(peerB.address, c.now())).toBe(false);
    c.advance(299_000);
    a.installPermission(peerA.address, c.now());
    c.advance(299_000);
    expect(a.hasPermission(peerA.address, c.now())).toBe(true);
    c.advance(1_000);
    expect(a.hasPermission(peerA.address, c.now())).toBe(false);
  });

  it('permission table is bounded: 508 when full, expired ones make room', () => {
    const c = new ManualClock();
    const a = alloc(c);
    for (const ip of ['1.1.1.1', '1.1.1.2', '1.1.1.3']) a.installPermission(ip, c.now());
    expect(status(() => a.installPermission('1.1.1.4', c.now()))).toBe(508);
    c.advance(300_000);
    expect(status(() => a.installPermission('1.1.1.4', c.now()))).toBeUndefined();
  });

  it('channel binding: 600 s, installs the permission, re-bind refreshes', () => {
    const c = new ManualClock();
    const a = alloc(c);
    const ch = a.bindChannel(0x4000, peerA, c.now());
    expect(a.hasPermission(peerA.address, c.now())).toBe(true);
    expect(a.channelByNumber(0x4000, c.now())).toBe(ch);
    expect(a.channelByPeer(peerA.address, peerA.port, c.now())).toBe(ch);
    c.advance(599_000);
    a.bindChannel(0x4000, peerA, c.now());
    c.advance(599_000);
    expect(a.channelByNumber(0x4000, c.now())).toBe(ch);
    c.advance(1_000);
    expect(a.channelByNumber(0x4000, c.now())).toBeUndefined();
  });

  it('channel rules: range, number bound to another peer, peer bound to another number → 400', () => {
    const c = new ManualClock();
    const a = alloc(c);
    a.bindChannel(0x4000, peerA, c.now());
    expect(status(() => a.bindChannel(0x3fff, peerB, c.now()))).toBe(400);
    expect(status(() => a.bindChannel(0x8000, peerB, c.now()))).toBe(400);
    expect(status(() => a.bindChannel(0x4000, peerB, c.now()))).toBe(400);
    expect(status(() => a.bindChannel(0x4001, peerA, c.now()))).toBe(400);
    // Same IP, other port is another peer: allowed on another number.
    expect(status(() => a.bindChannel(0x4001, { ...peerA, port: 5001 }, c.now()))).toBeUndefined();
    expect(status(() => a.bindChannel(0x4002, peerB, c.now()))).toBe(508);
  });

  it('5-minute guard: an expired binding blocks re-use by others, then frees', () => {
    const c = new ManualClock();
    const a = alloc(c);
    a.bindChannel(0x4000, peerA, c.now());
    c.advance(600_000);
    expect(a.channelByNumber(0x4000, c.now())).toBeUndefined();
    expect(status(() => a.bindChannel(0x4000, peerB, c.now()))).toBe(400);
    c.advance(299_000);
    expect(status(() => a.bindChannel(0x4000, peerB, c.now()))).toBe(400);
    c.advance(1_000);
    expect(status(() => a.bindChannel(0x4000, peerB, c.now()))).toBeUndefined();
    expect(a.channelByPeer(peerB.address, peerB.port, c.now())?.number).toBe(0x4000);
  });

  it('the same pair can be re-bound inside the guard window', () => {
    const c = new ManualClock();
    const a = alloc(c);
    a.bindChannel(0x4000, peerA, c.now());
    c.advance(700_000);
    expect(status(() => a.bindChannel(0x4000, peerA, c.now()))).toBeUndefined();
    expect(a.channelByNumber(0x4000, c.now())).toBeDefined();
  });

  it('sweep drops expired permissions and guarded channels', () => {
    const c = new ManualClock();
    const a = alloc(c);
    a.bindChannel(0x4000, peerA, c.now());
    c.advance(900_000);
    a.sweep(c.now());
    expect(a.permissions.size).toBe(0);
    expect(a.channelCount).toBe(0);
  });
});

describe('quotas', () => {
  it('allocations per user: the (n+1)th is refused until one is released', () => {
    const q = new UserQuotas(2, 0);
    expect(q.acquire('a', 0)).toBeDefined();
    expect(q.acquire('a', 0)).toBeDefined();
    expect(q.acquire('a', 0)).toBeUndefined();
    expect(q.acquire('b', 0)).toBeDefined();
    q.release('a');
    expect(q.acquire('a', 0)).toBeDefined();
    expect(q.allocationsOf('a')).toBe(2);
  });

  it('token bucket: burst, then the configured rate; 0 = unlimited', () => {
    const b = new TokenBucket(100_000, 0); // burst = 100 kB
    expect(b.take(100_000, 0)).toBe(true);
    expect(b.take(1, 0)).toBe(false);
    expect(b.take(10_000, 100)).toBe(true); // 100 ms at 100 kB/s = 10 kB
    expect(b.take(1, 100)).toBe(false);
    const u = new TokenBucket(0, 0);
    expect(u.take(1e9, 0)).toBe(true);
    expect(() => new TokenBucket(-1, 0)).toThrow(RangeError);
  });
});
