/**
 * What peers do with the relay a fleet's serve node names (the relay-fleet tests' harness:
 * relay-fleet-harness.ts; a real redis-server, `natpush relay --redis` relays, serve nodes
 * `--redis --no-relay`): real Peers' punch layer allocates on it; a peer's own region (Peer.connect,
 * `natpush listen --region`, `hello.region`, per request, `?region=` over HTTP) wins over the
 * node's; malformed region labels are refused before anything is sent.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Peer } from '../../../src/peer/peer.js';
import { generateIdentity, signChallenge, type Identity } from '../../../src/signaling/identity.js';
import { requireBuiltCli } from '../../support/natpush-cli.js';
import { httpSession, post, RawClient } from '../signaling/helpers.js';
import { relayFleetHarness, udpUrl, until } from './relay-fleet-harness.js';

const h = relayFleetHarness();
const { relay, serve, peer, creds, clients, peerClients, dirs, welcomeRelay } = h;

// Generous per-test bound (above `until`'s 60 s): every wait is on an event or a poll.
describe.skipIf(h.skip)(
  'relay fleet: peers on the relay serve names, and their regions',
  { timeout: 120_000 },
  () => {
    it('real Peers: the punch layer allocates on a fleet relay serve named', async () => {
      const r1 = await relay('peers');
      const r2 = await relay('peers');
      const { url } = await serve({ region: 'peers' });
      const ia = generateIdentity();
      const ib = generateIdentity();
      const mk = async (me: Identity, other: Identity) => {
        const p = await Peer.connect({
          server: url,
          identity: me,
          backoff: { initialMs: 20, maxMs: 200, factor: 2 },
          allow: [other.peerId],
          interfaces: () => ['127.0.0.1'],
        });
        peerClients.push(p);
        return p;
      };
      const a = await mk(ia, ib);
      const b = await mk(ib, ia);
      expect([udpUrl(r1), udpUrl(r2)]).toContain((await a.turnCredentials()).urls[0]);
      const got: string[] = [];
      const stop = new AbortController();
      void (async () => {
        for await (const n of b.notifications({ signal: stop.signal })) got.push(n.body);
      })();
      // Notifying starts the ladder's punch, whose connector allocates on the relay its
      // credentials named (a relayed candidate is gathered for every punch).
      for (let i = 0; i < 5; i++) await a.notify(ib.peerId, `hello ${i}`);
      await until(
        () => got.length === 5 && r1.server!.allocationCount + r2.server!.allocationCount >= 1,
        'delivered, and an allocation on a fleet relay',
      );
      stop.abort();
      expect(got.sort()).toEqual([0, 1, 2, 3, 4].map((i) => `hello ${i}`));
    });

    it("Peer.connect({ region }) gets a relay of its region, not the node's", async () => {
      const east = await relay('r6-east');
      const west = await relay('r6-west');
      const { url } = await serve({ region: 'r6-east' });
      const connect = async (region?: string) => {
        const p = await Peer.connect({
          server: url,
          identity: generateIdentity(),
          direct: false,
          ...(region !== undefined ? { region } : {}),
        });
        peerClients.push(p);
        return (await p.turnCredentials()).urls[0];
      };
      expect(await connect('r6-west')).toBe(udpUrl(west));
      expect(await connect()).toBe(udpUrl(east));
      // The label is checked before anything is sent (serve would refuse the hello).
      await expect(connect('not a label')).rejects.toThrow(TypeError);
    });

    it('natpush listen --region: the CLI peer gathers on a relay of its region', async () => {
      const east = await relay('r6c-east');
      const west = await relay('r6c-west');
      const { url } = await serve({ region: 'r6c-east' });
      const dir = mkdtempSync(join(tmpdir(), 'natpush-region-cli-'));
      dirs.push(dir);
      // Warm direct paths (listen's default): at login the punch layer gathers its candidates
      // with the relay its welcome named as STUN server, so that relay answers its Bindings.
      const child = spawn(
        process.execPath,
        [
          requireBuiltCli(),
          'listen',
          '--server',
          url,
          '--identity',
          join(dir, 'id'),
          '--region',
          'r6c-west',
          '--no-portmap',
        ],
        { stdio: 'ignore' },
      );
      const exited = new Promise((res) => child.once('exit', res));
      try {
        await until(
          async () => Number((await west.counters()).requests) > 0,
          'a request at r6c-west',
        );
        expect((await east.counters()).requests).toBe(0);
      } finally {
        child.kill('SIGTERM');
        await exited;
      }
      // A malformed label is a usage error (exit 2) before anything is sent.
      const bad = spawnSync(
        process.execPath,
        [requireBuiltCli(), 'send', 'x', 'y', '--region', 'a b'],
        {
          encoding: 'utf8',
        },
      );
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain('--region must be');
    });

    it("the peer's own region wins over the node's: in the welcome, per request, and over HTTP", async () => {
      const east = await relay('r5-east');
      const west = await relay('r5-west');
      const { url } = await serve({ region: 'r5-east' });
      // A peer that says it is in r5-west (hello.region): one relay per region, so no re-ask
      // rotation can hide the choice.
      const id = generateIdentity();
      const c = await RawClient.open(url);
      clients.push(c);
      c.send({ type: 'hello', v: 1, peer: id.peerId, publicKey: id.publicKey, region: 'r5-west' });
      const ch = await c.wait('challenge');
      c.send({ type: 'auth', nonce: ch.nonce, signature: signChallenge(id, ch) });
      const welcome = await c.wait('welcome');
      expect(welcome.turn?.urls[0]).toBe(udpUrl(west));
      expect((await creds(c)).urls[0]).toBe(udpUrl(west));
      // A request may name another region; one that names none uses the hello's.
      c.send({ type: 'turn-credentials', ref: 'in-east', region: 'r5-east' });
      expect((await c.wait('turn-credentials', (m) => m.ref === 'in-east')).urls[0]).toBe(
        udpUrl(east),
      );
      // A peer without a region gets the node's.
      expect(welcomeRelay.get(await peer(url))).toBe(udpUrl(east));
      // HTTP: POST /v1/turn-credentials?region=…; a malformed label is refused.
      const auth = { authorization: `Bearer ${await httpSession({ url }, generateIdentity())}` };
      const http = await post(`${url}/v1/turn-credentials?region=r5-west`, {}, auth);
      expect(http.status).toBe(200);
      expect(http.json.urls[0]).toBe(udpUrl(west));
      expect((await post(`${url}/v1/turn-credentials`, {}, auth)).json.urls[0]).toBe(udpUrl(east));
      expect((await post(`${url}/v1/turn-credentials?region=a%20b`, {}, auth)).status).toBe(400);
    });
  },
);
