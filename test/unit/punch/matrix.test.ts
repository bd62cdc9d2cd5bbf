/**
 * The NAT-pair matrix on the in-memory network (RFC 4787 NAT boxes, manual clock, no sleeps):
 * two peers punch through serve's rendezvous (the real `Presence.punch` scheduling) with ICE
 * checks, and the selected path's kind is what theory predicts (RFC 4787 §4–5, RFC 5128 §3.3,
 * NETSIM-NOTES):
 * - endpoint-independent mapping on both sides (cone × cone, CGN × cone): direct;
 * - symmetric × full/restricted cone: direct, but only through the peer-reflexive candidate the
 *   cone side learns from the symmetric side's check (RFC 8445 §7.3.1.3);
 * - symmetric × port-restricted / symmetric / CGN: the symmetric side's new mapping never gets a
 *   packet in, so the relay;
 * - two peers behind the same NAT: direct over host candidates, or over the NAT's hairpin when
 *   their host candidates are hidden.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { NatKind, PeerSide } from './world.js';
import { punch, PunchWorld } from './world.js';
import { crossesBothWays } from './world-per-test.js';

type Want = 'direct' | 'relay';
interface Row {
  a: NatKind | 'same-nat' | 'same-nat-hairpin';
  b: NatKind | '';
  want: Want;
}

const CONES: NatKind[] = ['full-cone', 'restricted-cone', 'port-restricted'];
const ROWS: Row[] = [];
for (const [i, a] of CONES.entries())
  for (const b of CONES.slice(i)) ROWS.push({ a, b, want: 'direct' });
ROWS.push(
  { a: 'symmetric', b: 'full-cone', want: 'direct' },
  { a: 'symmetric', b: 'restricted-cone', want: 'direct' },
  { a: 'symmetric', b: 'port-restricted', want: 'relay' },
  { a: 'symmetric', b: 'symmetric', want: 'relay' },
  { a: 'cgn', b: 'full-cone', want: 'direct' },
  { a: 'cgn', b: 'port-restricted', want: 'direct' },
  { a: 'cgn', b: 'cgn', want: 'direct' },
  { a: 'cgn', b: 'symmetric', want: 'relay' },
  { a: 'same-nat', b: '', want: 'direct' },
  { a: 'same-nat-hairpin', b: '', want: 'direct' },
);

const table: string[] = [];
let world: PunchWorld | undefined;

afterEach(async () => {
  await world?.close();
  world = undefined;
});

afterAll(() => {
  process.stdout.write(
    [
      'memory NAT matrix (A initiates, controlling)',
      'A                | B                | want   | got    | A→B remote  | B→A remote  | ms',
      ...table,
    ].join('\n') + '\n',
  );
});

async function sides(w: PunchWorld, row: Row): Promise<[PeerSide, PeerSide]> {
  if (row.a === 'same-nat' || row.a === 'same-nat-hairpin') {
    const hairpin = row.a === 'same-nat-hairpin';
    const nat = w.nat('port-restricted', { hairpinning: hairpin });
    // With hairpinning, hide host candidates so the path must go through the NAT's hairpin.
    const o = { hostCandidates: !hairpin };
    return [await w.peer('peer-a', nat, o), await w.peer('peer-b', nat, o)];
  }
  return [await w.peer('peer-a', w.nat(row.a)), await w.peer('peer-b', w.nat(row.b as NatKind))];
}

describe.each(ROWS)('punch $a × $b', (row) => {
  it(`ends ${row.want}, both sides agree, and carries session datagrams both ways`, async () => {
    world = await PunchWorld.create();
    const w = world;
    const [a, b] = await sides(w, row);
    const t0 = w.clock.now();
    const [pa, pb] = await punch(w, a, b);
    const ms = w.clock.now() - t0;
    table.push(
      [
        row.a.padEnd(16),
        (row.b || row.a).padEnd(16),
        row.want.padEnd(6),
        pa.kind.padEnd(6),
        pa.remoteType.padEnd(11),
        pb.remoteType.padEnd(11),
        String(ms),
      ].join(' | '),
    );
    expect(pa.kind).toBe(row.want);
    expect(pb.kind).toBe(row.want);

    // Data flows both ways on the selected path, and only session datagrams are accepted.
    await crossesBothWays(w, pa, pb, { type: 0xc1, x: 7, y: 9 });
    expect(() => pa.send(Uint8Array.of(0x00, 1))).toThrow(TypeError);
  });
});
