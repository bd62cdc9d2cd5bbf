/**
 * A pair toward a peer-reflexive remote at a relay's IP is relayed, not direct (issue 9
 * leftover; checklist.ts `#atRelay`). The remote's check through its TURN allocation arrives
 * from its relayed address; until 5a71e16 the pair said `direct` until the relayed candidate was
 * signalled, and when it never is — the trickle lost, the remote already selected when its
 * allocation came, or its allocation replaced by one on a new port — it said `direct` for ever,
 * and the ladder never tried for a real direct path.
 */
import { describe, expect, it } from 'vitest';
import type { Candidate } from '../../../src/punch/candidates.js';
import { Checklist } from '../../../src/punch/checklist.js';
import type { PunchedPath } from '../../../src/punch/index.js';
import { relayIps } from '../../../src/punch/punch-run.js';
import { worldPerTest } from './world-per-test.js';
import { SIGNAL_MS } from './world.js';

const RELAY = '203.0.113.1';

function list(relay: string[] = [RELAY]): { l: Checklist; relay: string[] } {
  const holder = { relay };
  return {
    l: new Checklist(
      () => 1000,
      () => holder.relay,
    ),
    relay: holder.relay,
  };
}

const cand = (type: Candidate['type'], address: string, port: number): Candidate => ({
  type,
  address,
  port,
  priority: 100,
});

describe('Checklist: a peer-reflexive remote at a relay IP', () => {
  it("at our relay's IP: the pair is relayed; elsewhere, and signalled types, stay as they are", () => {
    const { l } = list();
    const atRelay = l.learnPrflx({ address: RELAY, port: 50_002 }, 100)!;
    expect(l.pair('socket', atRelay, 'controlling')!.kind).toBe('relay');
    const nat = l.learnPrflx({ address: '198.51.100.7', port: 40_000 }, 100)!;
    expect(l.pair('socket', nat, 'controlling')!.kind).toBe('direct');
    // The remote's own word for a host/srflx candidate stands (a peer on the relay's host).
    const srflx = cand('srflx', RELAY, 40_001);
    l.addRemote(srflx);
    expect(l.pair('socket', srflx, 'controlling')!.kind).toBe('direct');
    // IPv4-mapped IPv6 is the same IP.
    const mapped = l.learnPrflx({ address: `::ffff:${RELAY}`, port: 50_004 }, 100)!;
    expect(l.pair('socket', mapped, 'controlling')!.kind).toBe('relay');
  });

  it('at the IP of a relayed candidate the remote signalled (another port: a new allocation)', () => {
    const { l } = list([]);
    const prflx = l.learnPrflx({ address: '192.0.2.80', port: 50_010 }, 100)!;
    const p = l.pair('socket', prflx, 'controlled')!;
    expect(p.kind).toBe('direct');
    l.addRemote(cand('relay', '192.0.2.80', 50_000));
    expect(p.kind).toBe('relay');
    const later = l.learnPrflx({ address: '192.0.2.80', port: 50_020 }, 100)!;
    expect(l.pair('socket', later, 'controlled')!.kind).toBe('relay');
  });

  it('our relay known after the pair was formed: relayKnown() retypes it', () => {
    const holder: string[] = [];
    const l = new Checklist(
      () => 1000,
      () => holder,
    );
    const prflx = l.learnPrflx({ address: RELAY, port: 50_002 }, 100)!;
    const p = l.pair('socket', prflx, 'controlling')!;
    expect(p.kind).toBe('direct');
    holder.push(RELAY);
    l.relayKnown();
    expect(p.kind).toBe('relay');
  });

  it('relayIps: the server and the relayed address; none without a live allocation', () => {
    expect(relayIps(undefined)).toEqual([]);
    const turn = {
      closed: false,
      server: { address: RELAY, port: 3478 },
      relayedAddress: { address: '203.0.113.2', port: 50_000 },
    };
    expect(relayIps(turn as never)).toEqual([RELAY, '203.0.113.2']);
    expect(relayIps({ ...turn, closed: true } as never)).toEqual([]);
  });
});

const world = worldPerTest();

describe('punch: the relayed candidate never signalled', () => {
  it.each([
    ['full-cone', 'full-cone'],
    ['restricted-cone', 'full-cone'],
  ] as const)(
    '%s × %s, direct blocked, trickles of relayed candidates lost: both ends say relay',
    async (ka, kb) => {
      const w = await world.create({ punchLeadMs: 20, credentialsDelayMs: 2 * SIGNAL_MS });
      // The relayed candidates come late (a trickle: a frame of only a relay candidate) and are
      // lost on the way: the other side learns the relayed address from checks alone.
      w.loseSignal = (f) =>
        f.type === 'candidates' &&
        f.candidates.length > 0 &&
        f.candidates.every((c) => c.type === 'relay');
      const a = await w.peer('peer-a', w.nat(ka));
      const b = await w.peer('peer-b', w.nat(kb));
      w.net.dropIf(
        (p) =>
          (p.src.address === a.nat.publicAddress && p.dst.address === b.nat.publicAddress) ||
          (p.src.address === b.nat.publicAddress && p.dst.address === a.nat.publicAddress),
      );
      const incoming = new Promise<PunchedPath>((resolve, reject) => {
        b.connector.onIncoming((p) => void p.path.then(resolve, reject));
      });
      const [pa, pb] = await w.run(Promise.all([a.connector.connect(b.id), incoming]));
      await w.clock.advanceAsync(4 * SIGNAL_MS);
      expect([pa.kind, pb.kind]).toEqual(['relay', 'relay']);
      pa.close();
      pb.close();
    },
  );
});
