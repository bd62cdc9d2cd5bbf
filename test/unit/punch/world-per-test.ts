/**
 * The pieces punch tests set up again and again around world.ts: a PunchWorld per test, closed
 * after it; peers A and B behind the same NAT kind; a promise's outcome without throwing; data
 * crossing a punched pair both ways.
 */
import { afterEach, expect } from 'vitest';
import type { PunchedPath } from '../../../src/punch/index.js';
import { PunchWorld, type NatKind, type PeerSide, type WorldOptions } from './world.js';

/** Call at a test file's top: its `create()` makes that test's world, closed after the test. */
export function worldPerTest(): { create: (o?: WorldOptions) => Promise<PunchWorld> } {
  let world: PunchWorld | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });
  return { create: async (o) => (world = await PunchWorld.create(o)) };
}

/** peer-a and peer-b, each behind a NAT of `kind` of its own. */
export async function twoPeers(
  w: PunchWorld,
  kind: NatKind = 'full-cone',
): Promise<{ a: PeerSide; b: PeerSide }> {
  const a = await w.peer('peer-a', w.nat(kind));
  const b = await w.peer('peer-b', w.nat(kind));
  return { a, b };
}

/** The outcome of a promise without throwing: 'ok' or the error. */
export function outcome(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => 'ok',
    (e: unknown) => e,
  );
}

/**
 * Session data crosses both ways on the pair both sides hold: A sends [type, x], B sends
 * [type, y], and within `ms` each gets exactly the other's second byte.
 */
export async function crossesBothWays(
  w: PunchWorld,
  pa: PunchedPath,
  pb: PunchedPath,
  { type = 0xc2, x = 1, y = 2, ms = 200 } = {},
): Promise<void> {
  const atB: number[] = [];
  const atA: number[] = [];
  pb.onData((d) => atB.push(d[1]!));
  pa.onData((d) => atA.push(d[1]!));
  pa.send(Uint8Array.of(type, x));
  pb.send(Uint8Array.of(type, y));
  await w.clock.advanceAsync(ms);
  expect(atB).toEqual([x]);
  expect(atA).toEqual([y]);
}
