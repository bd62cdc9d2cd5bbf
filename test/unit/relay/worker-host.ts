/**
 * The workers of `relay --workers` in unit tests (siblings, sibling-handoff, worker-mirrors):
 * relay servers on several ports of one in-memory host, each with the SiblingExchange a test's
 * primary gives it, and clients of any of them (port-clients.ts). In `--workers` the workers
 * share one port; here each has its own, so a test can tell who sent what and send to either.
 */
import { afterEach } from 'vitest';
import { MemoryNetwork } from '../../../src/net/index.js';
import { sharedSecret } from '../../../src/relay/credentials.js';
import type { SiblingExchange } from '../../../src/relay/server/siblings.js';
import type { TurnServerOptions } from '../../../src/relay/server/options.js';
import { createRelayServer, type TurnServer } from '../../../src/relay/server/turn-server.js';
import { ManualClock } from '../../../src/util/clock.js';
import { portClients } from './port-clients.js';

export const RELAY = '203.0.113.1';
const SECRET = 's';

/** What a test opens; each is closed, last first, after every test of the calling file. */
export function closedAfterEach(): (() => Promise<void>)[] {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });
  return closers;
}

export function workerHost(closers: (() => Promise<void>)[]) {
  const clock = new ManualClock();
  const net = new MemoryNetwork({ clock });
  const host = net.addHost({ addresses: [RELAY] });
  /** A worker listening on `port`. */
  const start = async (
    port: number,
    siblingExchange: SiblingExchange,
    extra: Partial<TurnServerOptions> = {},
  ): Promise<TurnServer> => {
    const s = await createRelayServer({
      net: host,
      clock,
      listenAddress: RELAY,
      port,
      relayAddress: RELAY, // a public address of ours: not an allowed peer unless relayed
      credentials: sharedSecret(SECRET),
      siblingExchange,
      ...extra,
    });
    closers.push(() => s.close());
    return s;
  };
  /** A client of the worker on `port`, and every datagram its socket gets (raw). */
  const client = portClients({ net, clock, secret: SECRET, relay: RELAY, closers });
  return { clock, start, client };
}
