import { describe, expect, it } from 'vitest';
import { RelayFleet } from '../../../src/cluster/relay-fleet.js';
import { turnCredentialIssuer } from '../../../src/signaling/turn-credentials.js';
import { ManualClock } from '../../../src/util/clock.js';
import { silentLogger } from '../../../src/util/logger.js';

const C1 = ['turn:10.0.0.1:3478?transport=tcp', 'turn:10.0.0.1:3478?transport=udp'];
const C2 = ['turn:10.0.0.2:3478?transport=udp'];
const HOUR = 3_600_000;

function fleet(o: Partial<ConstructorParameters<typeof RelayFleet>[0]> = {}) {
  const clock = new ManualClock();
  return {
    clock,
    f: new RelayFleet({ credentialTtlMs: HOUR, clock, logger: silentLogger, ...o }),
  };
}

describe('RelayFleet without Redis (--turn-url and serve own relay)', () => {
  it('groups --turn-url by server, UDP first, and spreads peers over the servers', () => {
    const { f } = fleet({ turnUrls: [...C1, ...C2] });
    const got = ['a', 'b', 'c', 'd'].map((p) => f.pick(p, '127.0.0.1'));
    expect(got).toEqual([[C1[1], C1[0]], C2, [C1[1], C1[0]], C2]);
    expect(f.issued.static).toBe(4);
  });

  it('a peer asking again within the re-ask window gets the other server; later, any', () => {
    const { f, clock } = fleet({ turnUrls: [...C2, ...C1] });
    const first = f.pick('p', '127.0.0.1')!;
    expect(f.pick('p', '127.0.0.1')).not.toEqual(first);
    expect(f.reroutes).toBe(1);
    clock.advance(61_000);
    f.pick('p', '127.0.0.1');
    expect(f.reroutes).toBe(1);
  });

  it('the own relay is a member: its URLs name the address the peer reached; its allocations count', () => {
    let allocations = 0;
    const { f } = fleet({
      turnUrls: C2,
      local: {
        urls: (c) => [`turn:${c}:3479?transport=udp`],
        allocations: () => allocations,
      },
    });
    allocations = 50; // busy: the static server is handed until its estimate passes 50
    const got = Array.from({ length: 10 }, (_, i) => f.pick(`p${i}`, '192.0.2.1')![0]);
    expect(got).toEqual(Array(10).fill(C2[0]));
    allocations = 0;
    expect(f.pick('q', '192.0.2.1')).toEqual(['turn:192.0.2.1:3479?transport=udp']);
  });

  it('refuses a --turn-url that is not a turn: URI', () => {
    expect(() => fleet({ turnUrls: ['stun:10.0.0.1:3478'] })).toThrow(TypeError);
  });

  it('as the credential issuer: fleet URLs, and undefined when no relay is in rotation', () => {
    const { f } = fleet({ turnUrls: C2 });
    const issuer = turnCredentialIssuer({ secret: 's', relays: f });
    expect(issuer.issue('a'.repeat(32), '127.0.0.1', 1_700_000_000_000)?.urls).toEqual(C2);
    const none = turnCredentialIssuer({ secret: 's', relays: { pick: () => undefined } });
    expect(none.issue('a'.repeat(32), '127.0.0.1', 1_700_000_000_000)).toBeUndefined();
  });
});
