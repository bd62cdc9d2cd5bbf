/**
 * Relay fleets on a real redis-server: two `natpush relay --redis` relays (createRelay, the
 * CLI's composition) register their URLs, region and load; a coturn `turnserver` with the same
 * static-auth-secret is given to serve as `--turn-url`. A serve node (`--redis --no-relay`)
 * hands each peer TURN credentials for one of the three, chosen by load and region, and the
 * peer allocates there — coturn included, which proves serve's credentials are coturn's
 * use-auth-secret ones. A relay that is closed leaves the rotation; a relay that stops
 * reporting (killed) leaves it within its TTL; a peer asking again at once gets another relay.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeUdpNetwork, type Endpoint } from '../../../src/net/index.js';
import { TurnClient } from '../../../src/relay/client/client.js';
import { registerRelay, type RelayRegistration } from '../../../src/cluster/relay-registration.js';
import { createRelay, type Relay } from '../../../src/server/create-relay.js';
import { createServe, type Serve } from '../../../src/server/create-serve.js';
import { Peer } from '../../../src/peer/peer.js';
import { generateIdentity, signChallenge, type Identity } from '../../../src/signaling/identity.js';
import type { ServerMessage } from '../../../src/signaling/protocol.js';
import { silentLogger } from '../../../src/util/logger.js';
import { startCoturn, type Coturn } from '../../../bench/lib/coturn.js';
import { requireBuiltCli } from '../../support/natpush-cli.js';
import { missingPrereq } from '../../support/prereq.js';
import { httpSession, post, RawClient } from '../signaling/helpers.js';
import { startRedis, type TestRedis } from './redis-server.js';
import { all, hookMs, teardown } from './teardown.js';

const skip = missingPrereq('integration (redis-server, coturn)', {
  commands: { 'redis-server': 'redis-server', turnserver: 'coturn' },
});

const SECRET = 'fleet-test-secret';
type Creds = Extract<ServerMessage, { type: 'turn-credentials' }>;

let redis: TestRedis;
let coturn: Coturn;
const relays: Relay[] = [];
const serves: Serve[] = [];
const dirs: string[] = [];
const clients: RawClient[] = [];
const turns: TurnClient[] = [];
const silents: RelayRegistration[] = [];
const peerClients: Peer[] = [];

async function relay(region: string): Promise<Relay> {
  const r = await createRelay(
    {
      listen: '127.0.0.1',
      port: 0,
      secret: SECRET,
      'allow-loopback-peers': true,
      redis: redis.url,
      region,
      'log-level': 'error',
    },
    { logger: silentLogger },
  );
  relays.push(r);
  return r;
}

async function serve(extra: Record<string, unknown> = {}): Promise<{ url: string; s: Serve }> {
  const dir = mkdtempSync(join(tmpdir(), 'natpush-fleet-'));
  dirs.push(dir);
  const s = await createServe(
    {
      host: '127.0.0.1',
      port: 0,
      'data-dir': dir,
      stun: false,
      relay: false,
      redis: redis.url,
      ...extra,
    },
    { logger: silentLogger, env: { NATPUSH_TURN_SECRET: SECRET, NATPUSH_API_KEY: 'k' } },
  );
  serves.push(s);
  return { url: s.services[0]!.endpoints[0]!, s };
}

/** The relay URL each client's welcome named (`welcome.turn`, protocol.ts). */
const welcomeRelay = new Map<RawClient, string | undefined>();

async function peer(url: string): Promise<RawClient> {
  const c = await RawClient.open(url);
  clients.push(c);
  const welcome = c.wait('welcome');
  await c.login();
  welcomeRelay.set(c, (await welcome).turn?.urls[0]);
  return c;
}

let refs = 0;
async function ask(c: RawClient): Promise<Creds | Extract<ServerMessage, { type: 'error' }>> {
  const ref = `r${refs++}`;
  c.send({ type: 'turn-credentials', ref });
  return Promise.race([
    c.wait('turn-credentials', (m) => m.ref === ref),
    c.wait('error', (m) => m.ref === ref),
  ]);
}

async function creds(c: RawClient): Promise<Creds> {
  const m = await ask(c);
  if (m.type !== 'turn-credentials') throw new Error(`${m.code}: ${m.message}`);
  return m;
}

function endpointOf(urls: readonly string[]): Endpoint {
  const m = /^turn:\[?([^\]]+?)\]?:(\d+)\?transport=udp$/.exec(urls[0]!)!;
  return { address: m[1]!, port: Number(m[2]) };
}

const udpUrl = (r: Relay) => `turn:127.0.0.1:${r.addresses().udp.port}?transport=udp`;

async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  // Bounded by events (the condition), with a generous ceiling for a loaded machine.
  const end = Date.now() + 60_000;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function metric(url: string, name: string): Promise<string[]> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name));
}

beforeAll(async () => {
  if (skip) return;
  redis = await startRedis();
  coturn = await startCoturn({ secret: SECRET });
}, 60_000);

// Every step bounded and run whatever the others did (teardown.ts): the processes are stopped
// even when a close hangs; the in-process servers close at once, in parallel.
const STEPS = [
  ['TURN clients', all(turns, (t) => t.close())],
  ['raw clients', all(clients, (c) => c.ws.terminate())],
  ['peers', all(peerClients, (p) => p.close())],
  ['serve nodes', all(serves, (s) => s.close())],
  ['relays', all(relays, (r) => r.close())],
  ['silent registrations', all(silents, (r) => r.close())],
  ['coturn', () => coturn?.stop()],
  ['redis-server', () => redis?.stop()],
  ['temp dirs', () => dirs.forEach((d) => rmSync(d, { recursive: true, force: true }))],
] as const;
afterAll(() => teardown(STEPS), hookMs(STEPS.length));

// Generous per-test bound (above `until`'s 60 s): every wait is on an event or a poll.
describe.skipIf(skip)(
  'relay fleet: natpush relays on Redis and coturn by --turn-url',
  { timeout: 120_000 },
  () => {
    it('spreads peers over the three relays, and each peer allocates on the one it was handed', async () => {
      const eu = await relay('eu');
      const us = await relay('us');
      const coturnUrl = `turn:127.0.0.1:${coturn.port}?transport=udp`;
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
        redisUrl: redis.url,
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
        async () => (await redis.client().sismember('np:relays', silent.id)) === 0,
        'expired id removed',
      );
    }, 90_000);

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

    it('no relay in rotation: RELAY_UNAVAILABLE, not credentials for nobody', async () => {
      const { url } = await serve({ region: 'nowhere' });
      // Other tests' relays exist (another region): they are used rather than none.
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
