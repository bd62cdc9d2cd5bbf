/**
 * The relay-fleet tests' shared harness (relay-fleet-*.test.ts): each file gets a real
 * redis-server of its own (and coturn when it asks), `natpush relay --redis` relays
 * (createRelay, the CLI's composition) registered in it, and serve nodes (`--redis --no-relay`,
 * createServe) that hand their peers TURN credentials for one of the fleet's relays. Everything a
 * test opens is closed in afterAll, each step bounded (teardown.ts), the processes last but
 * always — also when a test failed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { Endpoint } from '../../../src/net/index.js';
import type { TurnClient } from '../../../src/relay/client/client.js';
import type { RelayRegistration } from '../../../src/cluster/relay-registration.js';
import { createRelay, type Relay } from '../../../src/server/create-relay.js';
import { createServe, type Serve } from '../../../src/server/create-serve.js';
import type { Peer } from '../../../src/peer/peer.js';
import type { ServerMessage } from '../../../src/signaling/protocol.js';
import { silentLogger } from '../../../src/util/logger.js';
import { startCoturn, type Coturn } from '../../../bench/lib/coturn.js';
import { missingPrereq } from '../../support/prereq.js';
import { RawClient } from '../signaling/helpers.js';
import { startRedis, type TestRedis } from './redis-server.js';
import { all, hookMs, teardown } from './teardown.js';

/** The fleet's static-auth-secret: the relays', coturn's, and the one serve mints with. */
export const SECRET = 'fleet-test-secret';

export type Creds = Extract<ServerMessage, { type: 'turn-credentials' }>;
type ErrorMessage = Extract<ServerMessage, { type: 'error' }>;

/** A relay's UDP URL, as serve hands it out. */
export const udpUrl = (r: Relay): string =>
  `turn:127.0.0.1:${r.addresses().udp.port}?transport=udp`;

/** The UDP endpoint of the first URL of a credential. */
export function endpointOf(urls: readonly string[]): Endpoint {
  const m = /^turn:\[?([^\]]+?)\]?:(\d+)\?transport=udp$/.exec(urls[0]!)!;
  return { address: m[1]!, port: Number(m[2]) };
}

/** Wait for `cond`: bounded by events (the condition), with a generous ceiling (60 s). */
export async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const end = Date.now() + 60_000;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The lines of a serve node's /metrics that start with `name`. */
export async function metric(url: string, name: string): Promise<string[]> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name));
}

export interface FleetHarness {
  /** Why the file is skipped (a missing command), or undefined. */
  skip: string | undefined;
  redis(): TestRedis;
  /** Only with `{ coturn: true }`. */
  coturn(): Coturn;
  /** A `natpush relay --redis` of `region`, loopback peers allowed. */
  relay(region: string): Promise<Relay>;
  /** A serve node on the fleet's Redis without a relay of its own; `url` is its HTTP URL. */
  serve(extra?: Record<string, unknown>): Promise<{ url: string; s: Serve }>;
  /** A logged-in raw WebSocket client of `url`; its welcome's relay is in `welcomeRelay`. */
  peer(url: string): Promise<RawClient>;
  /** The relay URL each client's welcome named (`welcome.turn`, protocol.ts). */
  welcomeRelay: Map<RawClient, string | undefined>;
  /** `turn-credentials` asked over the WebSocket: the answer or the error. */
  ask(c: RawClient): Promise<Creds | ErrorMessage>;
  /** `ask`, and the credentials (an error throws). */
  creds(c: RawClient): Promise<Creds>;
  /** What the tests open themselves, closed in afterAll. */
  relays: Relay[];
  turns: TurnClient[];
  clients: RawClient[];
  peerClients: Peer[];
  silents: RelayRegistration[];
  dirs: string[];
}

/**
 * Call once at the top of a test file: registers its beforeAll (redis-server, coturn) and its
 * afterAll (everything, bounded), and returns what the tests use.
 */
export function relayFleetHarness(o: { coturn?: boolean } = {}): FleetHarness {
  const commands: Record<string, string> = { 'redis-server': 'redis-server' };
  if (o.coturn) commands.turnserver = 'coturn';
  const skip = missingPrereq(`integration (${Object.values(commands).join(', ')})`, {
    commands,
  });
  let redis: TestRedis | undefined;
  let coturn: Coturn | undefined;
  const h: FleetHarness = {
    skip,
    redis: () => redis!,
    coturn: () => coturn!,
    relays: [],
    turns: [],
    clients: [],
    peerClients: [],
    silents: [],
    dirs: [],
    welcomeRelay: new Map(),
    async relay(region) {
      const r = await createRelay(
        {
          listen: '127.0.0.1',
          port: 0,
          secret: SECRET,
          'allow-loopback-peers': true,
          redis: redis!.url,
          region,
          'log-level': 'error',
        },
        { logger: silentLogger },
      );
      h.relays.push(r);
      return r;
    },
    async serve(extra = {}) {
      const dir = mkdtempSync(join(tmpdir(), 'natpush-fleet-'));
      h.dirs.push(dir);
      const s = await createServe(
        {
          host: '127.0.0.1',
          port: 0,
          'data-dir': dir,
          stun: false,
          relay: false,
          redis: redis!.url,
          ...extra,
        },
        { logger: silentLogger, env: { NATPUSH_TURN_SECRET: SECRET, NATPUSH_API_KEY: 'k' } },
      );
      serves.push(s);
      return { url: s.services[0]!.endpoints[0]!, s };
    },
    async peer(url) {
      const c = await RawClient.open(url);
      h.clients.push(c);
      const welcome = c.wait('welcome');
      await c.login();
      h.welcomeRelay.set(c, (await welcome).turn?.urls[0]);
      return c;
    },
    async ask(c) {
      const ref = `r${refs++}`;
      c.send({ type: 'turn-credentials', ref });
      return Promise.race([
        c.wait('turn-credentials', (m) => m.ref === ref),
        c.wait('error', (m) => m.ref === ref),
      ]);
    },
    async creds(c) {
      const m = await h.ask(c);
      if (m.type !== 'turn-credentials') throw new Error(`${m.code}: ${m.message}`);
      return m;
    },
  };
  const serves: Serve[] = [];
  let refs = 0;

  beforeAll(async () => {
    if (skip) return;
    redis = await startRedis();
    if (o.coturn) coturn = await startCoturn({ secret: SECRET });
  }, 60_000);

  // Every step bounded and run whatever the others did (teardown.ts): the processes are stopped
  // even when a close hangs; the in-process servers close at once, in parallel.
  const STEPS = [
    ['TURN clients', all(h.turns, (t) => t.close())],
    ['raw clients', all(h.clients, (c) => c.ws.terminate())],
    ['peers', all(h.peerClients, (p) => p.close())],
    ['serve nodes', all(serves, (s) => s.close())],
    ['relays', all(h.relays, (r) => r.close())],
    ['silent registrations', all(h.silents, (r) => r.close())],
    ['coturn', () => coturn?.stop()],
    ['redis-server', () => redis?.stop()],
    ['temp dirs', () => h.dirs.forEach((d) => rmSync(d, { recursive: true, force: true }))],
  ] as const;
  afterAll(() => teardown(STEPS), hookMs(STEPS.length));
  return h;
}
