/**
 * Which relay of a fleet serve hands out, and when a relay leaves the rotation (the relay-fleet
 * tests' harness: relay-fleet-harness.ts; a real redis-server, `natpush relay --redis` relays,
 * serve nodes `--redis --no-relay`): the less loaded relay once the loaded one reported its
 * allocations; another relay for a peer asking again at once; a closed relay leaves at once, a
 * relay that stops reporting (killed) within its TTL; with no relay left, RELAY_UNAVAILABLE.
 */
import { describe, expect, it } from 'vitest';
import { nodeUdpNetwork } from '../../../src/net/index.js';
import { TurnClient } from '../../../src/relay/client/client.js';
import { registerRelay } from '../../../src/cluster/relay-registration.js';
import { endpointOf, metric, relayFleetHarness, udpUrl, until } from './relay-fleet-harness.js';

const h = relayFleetHarness();
const { relay, serve, peer, ask, creds, relays, turns, silents, welcomeRelay } = h;

// Generous per-test bound (above `until`'s 60 s): every wait is on an event or a poll.
describe.skipIf(h.skip)(
  'relay fleet: load, re-asks and relays leaving the rotation',
  { timeout: 120_000 },
  () => {
    it('hands the less loaded relay once the loaded one reports its allocations', async () => {
      const a = await relay('x');
      const b = await relay('x');
      const { url } = await serve({ region: 'x' });
      // Six allocations on `a` (credentials minted by serve, relay named by us).
      const p = await peer(url);
      for (let i = 0; i < 6; i++) {
        const c = await creds(p);
        turns.push(
          await TurnClient.allocate({
            server: endpointOf([udpUrl(a)]),
            transport: 'udp',
            net: nodeUdpNetwork,
            username: c.username,
            password: c.password,
          }),
        );
      }
      // a's report (every 2 s) reaches serve's next read of the fleet (every 1 s): /metrics says so.
      const line = `natpush_cluster_relay_allocations{relay="${a.registration!.id}",region="x"} 6`;
      await until(
        async () => (await metric(url, 'natpush_cluster_relay_allocations')).includes(line),
        'a reports 6 allocations',
      );
      // Region x has a and b only (the other tests' relays are eu/us): every pick is b now. The
      // pick a new peer gets is the one its welcome carries (`welcome.turn`); asking again at once
      // would be a re-ask, which goes to another relay by design (the next test).
      const got: string[] = [];
      for (let i = 0; i < 4; i++) got.push(welcomeRelay.get(await peer(url))!);
      expect(got).toEqual(Array(4).fill(udpUrl(b)));
      for (const t of turns.splice(0)) await t.close();
    });

    it('a peer asking again at once gets another relay; a closed relay leaves the rotation', async () => {
      const r1 = await relay('y');
      const r2 = await relay('y');
      const { url } = await serve({ region: 'y' });
      const p = await peer(url);
      const first = (await creds(p)).urls[0]!;
      const second = (await creds(p)).urls[0]!;
      expect(new Set([first, second])).toEqual(new Set([udpUrl(r1), udpUrl(r2)]));
      // Graceful close deregisters at once: the next read of the fleet drops it.
      await r1.close();
      relays.splice(relays.indexOf(r1), 1);
      await until(
        async () =>
          (await metric(url, 'natpush_cluster_relay_score')).every(
            (l) => !l.includes(r1.registration!.id),
          ),
        'r1 out of rotation',
      );
      for (let i = 0; i < 6; i++) expect((await creds(await peer(url))).urls[0]).toBe(udpUrl(r2));
    });

    // A 20 s TTL is waited out by design (until() allows 60 s): more than the 30 s default.
    it('a relay that stops reporting (killed) leaves the rotation within its TTL', async () => {
      const live = await relay('z');
      // A registration that reports once and never again: what a SIGKILLed relay leaves behind
      // (its record, with the TTL of its last report). The CLI relay is SIGKILLed for real in
      // cluster-scale.test.ts.
      const silent = await registerRelay({
        redisUrl: h.redis().url,
        urls: ['turn:127.0.0.1:9?transport=udp'],
        region: 'z',
        load: () => Promise.resolve({}),
        // 20 s, not the default 6 s: serve must start and read it before it expires, however
        // slow the machine (the expiry is then waited for by event).
        timing: { reportMs: 600_000, ttlMs: 20_000 },
      });
      silents.push(silent);
      const { url } = await serve({ region: 'z' });
      const p = await peer(url);
      const seen = new Set<string>();
      for (let i = 0; i < 4; i++) seen.add((await creds(p)).urls[0]!);
      expect(seen).toEqual(new Set([udpUrl(live), 'turn:127.0.0.1:9?transport=udp']));
      await until(
        async () =>
          (await metric(url, 'natpush_cluster_relay_score')).every((l) => !l.includes(silent.id)),
        'the silent relay out of rotation',
      );
      for (let i = 0; i < 4; i++) expect((await creds(await peer(url))).urls[0]).toBe(udpUrl(live));
      // Its id left the `relays` set too (the reader removes ids whose record expired).
      await until(
        async () => (await h.redis().client().sismember('np:relays', silent.id)) === 0,
        'expired id removed',
      );
    }, 90_000);

    it('no relay in rotation: RELAY_UNAVAILABLE, not credentials for nobody', async () => {
      // A relay of another region exists (this one, and the other tests'): it is used rather
      // than none. Its own, so that the test does not depend on the others having run.
      await relay('elsewhere');
      const { url } = await serve({ region: 'nowhere' });
      expect((await ask(await peer(url))).type).toBe('turn-credentials');
      for (const r of relays.splice(0)) await r.close();
      await until(
        async () =>
          (await metric(url, 'natpush_cluster_relays{kind="registered"}'))[0]?.endsWith(' 0') ??
          false,
        'every relay gone',
      );
      const m = await ask(await peer(url));
      expect(m.type === 'error' && m.code).toBe('NATPUSH_ERR_RELAY_UNAVAILABLE');
    });
  },
);
