/**
 * The pieces punch tests set up again and again around world.ts: a PunchWorld per test, closed
 * after it; peers A and B behind the same NAT kind; a promise's outcome without throwing.
 */
import { afterEach } from 'vitest';
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
