/**
 * The nomination race (netsim restarts, ~4 of 10 runs before the fix): the controlled side
 * selects a relayed pair the controlling side nominated regularly (RFC 8445 §8.1.1), while the
 * controlling side's aggressive nomination (RFC 5245 §8.1.1.2) selects a direct pair first — the
 * relay nomination's answer had not come back yet. The two sides then held different pairs of
 * one punch. The rule both sides now follow (RFC 5245 §8.1.1.2): a selected relayed pair gives
 * way to a direct pair nominated later, once that pair is valid (its own check answered), so both
 * end on the controlling side's direct pair.
 *
 * The race is forced, not waited for: the direct link is cut until the controlled side has
 * selected the relay, and the controlled side's answers to checks carrying USE-CANDIDATE through
 * serve's relay are dropped, so the controlling side's relay nomination stays unanswered until a
 * direct check's answer selects direct there.
 */
import { describe, expect, it } from 'vitest';
import type { Packet } from '../../../src/net/memory-nat.js';
import type { CandidatePair, PunchedPath } from '../../../src/punch/index.js';
import { upgrades } from '../../../src/punch/pair-upgrade.js';
import { punch, SERVER, type PunchWorld } from './world.js';
import { crossesBothWays, twoPeers, worldPerTest } from './world-per-test.js';

const MAGIC = [0x21, 0x12, 0xa4, 0x42];
const USE_CANDIDATE = 0x0025;

/** Binding requests / success responses carried in `data` (plain, ChannelData or a Send/Data
 *  indication's DATA): their class and transaction id, and whether a request nominates. */
function bindings(data: Uint8Array): { success: boolean; tx: string; nominates: boolean }[] {
  const out: { success: boolean; tx: string; nominates: boolean }[] = [];
  for (let i = 0; i + 20 <= data.length; i++) {
    if (data[i] !== 0x00 && data[i] !== 0x01) continue;
    if (data[i + 1] !== 0x01 || MAGIC.some((b, k) => data[i + 4 + k] !== b)) continue;
    const len = (data[i + 2]! << 8) | data[i + 3]!;
    if (i + 20 + len > data.length) continue;
    let nominates = false;
    for (let a = i + 20; a + 4 <= i + 20 + len;) {
      const type = (data[a]! << 8) | data[a + 1]!;
      const alen = (data[a + 2]! << 8) | data[a + 3]!;
      if (type === USE_CANDIDATE) nominates = true;
      a += 4 + Math.ceil(alen / 4) * 4;
    }
    const tx = Buffer.from(data.subarray(i + 8, i + 20)).toString('hex');
    out.push({ success: data[i] === 0x01, tx, nominates });
  }
  return out;
}

const world = worldPerTest();

/** Peers A (connects: controlling) and B (answers: controlled) behind port-restricted NATs,
 *  with the direct link between their NATs cut until `heal()`. */
async function cutPeers(w: PunchWorld) {
  const { a, b } = await twoPeers(w, 'port-restricted');
  const between = (p: Packet, x: string, y: string): boolean =>
    (p.src.address === x && p.dst.address === y) || (p.src.address === y && p.dst.address === x);
  let directCut = true;
  w.net.dropIf((p) => directCut && between(p, a.nat.publicAddress, b.nat.publicAddress));
  return { a, b, heal: () => void (directCut = false) };
}

const at = (e: { address: string; port: number }): string => `${e.address}:${e.port}`;

describe('nomination race: relay selected by the controlled side, direct by the controlling', () => {
  it('the controlled side moves to the direct pair the controlling side selected', async () => {
    const w = await world.create();
    const { a, b, heal } = await cutPeers(w);
    // Through the relay: note A's nominating checks, and drop B's answers to them.
    const nominations = new Set<string>();
    let answersDropped = 0;
    w.net.dropIf((p) => {
      const toServer = p.dst.address === SERVER;
      const fromServer = p.src.address === SERVER;
      if (!toServer && !fromServer) return false;
      for (const m of bindings(p.data)) {
        if (!m.success && m.nominates && p.src.address === a.nat.publicAddress)
          nominations.add(m.tx);
        if (!m.success && m.nominates && fromServer && p.dst.address === b.nat.publicAddress)
          nominations.add(m.tx);
        if (m.success && nominations.has(m.tx) && p.src.address === b.nat.publicAddress) {
          answersDropped++;
          return true;
        }
      }
      return false;
    });

    const incoming = new Promise<PunchedPath>((resolve, reject) => {
      b.connector.onIncoming((p) => void p.path.then(resolve, reject));
    });
    const outgoing = a.connector.connect(b.id);
    const pb = await w.run(incoming);
    // B selected the relayed pair A nominated after its direct grace; A has not heard back.
    expect(pb.kind).toBe('relay');
    expect(answersDropped).toBeGreaterThan(0);
    const switched: string[] = [];
    pb.onSwitched!((kind) => switched.push(kind));

    heal(); // A's next direct check (USE-CANDIDATE, aggressive) gets through
    const pa = await w.run(outgoing);
    expect(pa.kind).toBe('direct');
    // B validates the pair A nominated with its own check, then moves to it.
    await w.clock.advanceAsync(2_000);
    expect(pb.kind).toBe('direct');
    expect(switched).toEqual(['direct']);
    expect(at(pb.remote)).toBe(at(pa.local));
    expect(at(pa.remote)).toBe(at(pb.local));
    await crossesBothWays(w, pa, pb);
  });

  it('both sides leave a relayed pair for a direct one the controlling side nominated later', async () => {
    const w = await world.create();
    const { a, b, heal } = await cutPeers(w);
    const [pa, pb] = await punch(w, a, b);
    // Nothing direct got through within the grace: both selected the relayed pair.
    expect([pa.kind, pb.kind]).toEqual(['relay', 'relay']);
    const switched: string[] = [];
    pa.onSwitched!((kind) => switched.push(`a:${kind}`));
    pb.onSwitched!((kind) => switched.push(`b:${kind}`));

    // The link heals while A's aggressive checks of the direct pairs still retransmit (until
    // 13.4 s): the next one is answered, and both sides move to that direct pair.
    heal();
    await w.clock.advanceAsync(8_000);
    expect([pa.kind, pb.kind]).toEqual(['direct', 'direct']);
    expect(switched.sort()).toEqual(['a:direct', 'b:direct']);
    expect(at(pb.remote)).toBe(at(pa.local));
    await crossesBothWays(w, pa, pb);
  });

  it('a relayed nomination that arrives from an unsignalled relay address moves nothing', () => {
    const pair = (kind: 'direct' | 'relay', type: 'srflx' | 'prflx' | 'relay'): CandidatePair => ({
      id: `${kind}|${type}`,
      base: 'socket',
      remote: { type, address: '198.51.100.9', port: 50_000, priority: 1 },
      kind,
      priority: 1n,
      state: 'succeeded',
      heard: true,
      nominated: true,
    });
    expect(upgrades(pair('relay', 'relay'), pair('direct', 'srflx'))).toBe(true);
    // The other side's check through its relay, before its relayed candidate came: a prflx
    // labelled direct (checklist.ts #relayed) — relay-move ran both sides apart on it.
    expect(upgrades(pair('relay', 'relay'), pair('direct', 'prflx'))).toBe(false);
    expect(upgrades(pair('direct', 'srflx'), pair('direct', 'srflx'))).toBe(false);
    expect(upgrades(undefined, pair('direct', 'srflx'))).toBe(false);
  });
});
