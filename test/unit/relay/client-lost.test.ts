/**
 * The TURN client reports a lost allocation (issue 12: a relay of the fleet died) as one
 * `onLost` event, against the real relay server on the in-memory network with a manual clock:
 * a probe the server does not answer, a 437 from a server that no longer holds the allocation,
 * scheduled Refreshes lost past the lifetime — and never for a lost Refresh within the lifetime
 * or for close().
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../src/net/index.js';
import { MemoryNetwork } from '../../../src/net/index.js';
import { TurnClient } from '../../../src/relay/client/client.js';
import { mintTurnCredentials } from '../../../src/relay/credentials.js';
import { ManualClock } from '../../../src/util/clock.js';
import { relayOn } from './memory-relay.js';

const SERVER: Endpoint = { address: '203.0.113.1', port: 3478 };
const SECRET = 'test-secret';
const closers: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function setup() {
  const clock = new ManualClock();
  const net = new MemoryNetwork({ clock });
  const serverHost = net.addHost({ addresses: [SERVER.address] });
  const startServer = () => relayOn(serverHost, clock, SERVER, SECRET);
  let server = await startServer();
  closers.push(() => server.close());
  const host = net.addHost({ addresses: ['192.0.2.2'] });
  const creds = mintTurnCredentials(SECRET, 'alice', 86_400, clock.now());
  let dead = false;
  net.dropIf((p) => dead && (p.dst.port === SERVER.port || p.src.port === SERVER.port));
  const client = await TurnClient.allocate({
    server: SERVER,
    username: creds.username,
    password: creds.password,
    clock,
    net: host,
  });
  closers.push(() => client.close());
  const lost: string[] = [];
  client.onLost((r) => lost.push(r));
  return {
    clock,
    client,
    lost,
    /** The server stops answering (SIGKILL: no ICMP on this network). */
    kill() {
      dead = true;
    },
    /** A fresh server process on the same address: it holds no allocation (RFC 8656 §7.3). */
    async restart() {
      await server.close();
      server = await startServer();
    },
  };
}

describe('TurnClient: a lost allocation', () => {
  it('a probe the server does not answer reports the allocation lost, once', async () => {
    const w = await setup();
    expect(await w.client.probe()).toBe(true); // alive: answered
    expect(w.lost).toEqual([]);
    w.kill();
    const probing = w.client.probe();
    await w.clock.advanceAsync(10_000); // the request timeout
    expect(await probing).toBe(false);
    expect(w.lost).toHaveLength(1);
    expect(w.lost[0]).toMatch(/did not answer/);
    expect(w.client.lost).toBe(w.lost[0]);
    expect(await w.client.probe()).toBe(false); // already lost: no second event
    expect(w.lost).toHaveLength(1);
  });

  it('a server that no longer holds the allocation answers 437: lost', async () => {
    const w = await setup();
    await w.restart();
    const probing = w.client.probe();
    await w.clock.advanceAsync(2_000);
    expect(await probing).toBe(false);
    expect(w.lost).toEqual([expect.stringMatching(/437/)]);
  });

  it('scheduled Refreshes: one lost within the lifetime is not a loss; none answered past it is', async () => {
    const w = await setup();
    expect(w.client.lifetimeSeconds).toBe(600);
    w.kill();
    // The Refresh at 540 s times out at 550 s: the allocation still has 50 s.
    await w.clock.advanceAsync(551_000);
    expect(w.client.stats.refreshFailures).toBeGreaterThanOrEqual(1);
    expect(w.lost).toEqual([]);
    // The next one (550 + 540 s) fails past the lifetime: the server has deleted it by now.
    await w.clock.advanceAsync(540_000 + 10_000);
    expect(w.lost).toEqual([expect.stringMatching(/lifetime/)]);
    // No more background Refreshes after the loss.
    const failures = w.client.stats.refreshFailures;
    await w.clock.advanceAsync(1_200_000);
    expect(w.client.stats.refreshFailures).toBe(failures);
  });

  it('close() is not a loss, even when its deallocating Refresh goes unanswered', async () => {
    const w = await setup();
    w.kill();
    const closing = w.client.close();
    await w.clock.advanceAsync(2_000);
    await closing;
    expect(w.client.closed).toBe(true);
    expect(w.lost).toEqual([]);
  });
});
