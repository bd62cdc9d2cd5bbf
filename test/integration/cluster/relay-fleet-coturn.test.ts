/**
 * Relay fleets with coturn (the relay-fleet tests' harness: relay-fleet-harness.ts): two
 * `natpush relay --redis` relays register their URLs, region and load in a real redis-server; a
 * coturn `turnserver` with the same static-auth-secret is given to serve as `--turn-url`. A serve
 * node (`--redis --no-relay`) spreads its peers' TURN credentials over the three by load, and each
 * peer allocates on the one it was handed — coturn included, which proves serve's credentials are
 * coturn's use-auth-secret ones. Per-node metrics count the fleet and the credentials by kind.
 */
import { describe, expect, it } from 'vitest';
import { nodeUdpNetwork } from '../../../src/net/index.js';
import { TurnClient } from '../../../src/relay/client/client.js';
import type { RawClient } from '../signaling/helpers.js';
import {
  endpointOf,
  metric,
  relayFleetHarness,
  udpUrl,
  type Creds,
} from './relay-fleet-harness.js';

const h = relayFleetHarness({ coturn: true });
const { relay, serve, peer, creds, turns, welcomeRelay } = h;

// Generous per-test bound (above `until`'s 60 s): every wait is on an event or a poll.
describe.skipIf(h.skip)(
  'relay fleet: natpush relays on Redis and coturn by --turn-url',
  { timeout: 120_000 },
  () => {
    it('spreads peers over the three relays, and each peer allocates on the one it was handed', async () => {
      const eu = await relay('eu');
      const us = await relay('us');
      const coturnUrl = `turn:127.0.0.1:${h.coturn().port}?transport=udp`;
      const { url } = await serve({ 'turn-url': [coturnUrl] });
      const byUrl = new Map<string, number>();
      const handed: Creds[] = [];
      // Log in first, then ask at once: a burst, so the registered relays' recent counts (which
      // fade over 4 s) and coturn's (a credential lifetime) are compared on equal terms however
      // slow the machine is.
      const ps: RawClient[] = [];
      for (let i = 0; i < 30; i++) ps.push(await peer(url));
      for (const c of await Promise.all(ps.map((p) => creds(p)))) {
        handed.push(c);
        byUrl.set(c.urls[0]!, (byUrl.get(c.urls[0]!) ?? 0) + 1);
      }
      // Equal load: every relay gets its share of a burst (ties and fresh credentials rotate).
      expect(new Set(byUrl.keys())).toEqual(new Set([udpUrl(eu), udpUrl(us), coturnUrl]));
      for (const n of byUrl.values()) expect(n).toBeGreaterThanOrEqual(5);
      // One peer per relay allocates with the credentials it was handed, coturn included.
      for (const target of [udpUrl(eu), udpUrl(us), coturnUrl]) {
        const c = handed.find((h) => h.urls[0] === target)!;
        const t = await TurnClient.allocate({
          server: endpointOf(c.urls),
          transport: 'udp',
          net: nodeUdpNetwork,
          username: c.username,
          password: c.password,
        });
        turns.push(t);
        expect(t.relayedAddress.address).toBe('127.0.0.1');
      }
      expect(eu.server!.allocationCount + us.server!.allocationCount).toBe(2);
      // Metrics per node: the fleet and the credentials by kind.
      expect(await metric(url, 'natpush_cluster_relays{kind="registered"}')).toEqual([
        'natpush_cluster_relays{kind="registered"} 2',
      ]);
      expect(await metric(url, 'natpush_cluster_relays{kind="static"}')).toEqual([
        'natpush_cluster_relays{kind="static"} 1',
      ]);
      // Every credential counts, the ones each welcome carries (protocol.ts `welcome.turn`) too.
      const inWelcome = ps.filter((c) => welcomeRelay.get(c) === coturnUrl).length;
      const issued = await metric(url, 'natpush_cluster_relay_credentials_total');
      expect(issued.join('\n')).toContain(`kind="static"} ${byUrl.get(coturnUrl)! + inWelcome}`);
      for (const t of turns.splice(0)) await t.close();
    });
  },
);
