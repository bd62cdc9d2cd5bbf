/**
 * The candidate gatherer moves its relay allocation when the relay dies (issue 12): it
 * allocates at the relay its credentials name (their `urls`), and when a probe finds that relay
 * gone it drops the allocation, asks for fresh credentials (which name another relay of the
 * fleet) and allocates there. Real relay servers on the in-memory network, manual clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../src/net/index.js';
import { MemoryNetwork } from '../../../src/net/index.js';
import { CandidateGatherer, type RelayCredentials } from '../../../src/punch/candidates.js';
import type { TurnClient } from '../../../src/relay/client/client.js';
import { mintTurnCredentials } from '../../../src/relay/credentials.js';
import { StunTransactions } from '../../../src/stun/index.js';
import { ManualClock } from '../../../src/util/clock.js';
import { relayOn } from './memory-relay.js';

const SECRET = 'test-secret';
const RELAY_A: Endpoint = { address: '203.0.113.1', port: 3478 };
const RELAY_B: Endpoint = { address: '203.0.113.2', port: 3478 };
const closers: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

const url = (e: Endpoint) => `turn:${e.address}:${e.port}?transport=udp`;

describe('CandidateGatherer: a dead relay is replaced', () => {
  it('allocates where the credentials say, and on the next relay after a probe finds it dead', async () => {
    const clock = new ManualClock();
    const net = new MemoryNetwork({ clock });
    for (const r of [RELAY_A, RELAY_B]) {
      const s = await relayOn(net.addHost({ addresses: [r.address] }), clock, r, SECRET);
      closers.push(() => s.close());
    }
    let aDead = false;
    net.dropIf(
      (p) => aDead && (p.dst.address === RELAY_A.address || p.src.address === RELAY_A.address),
    );
    const host = net.addHost({ addresses: ['192.0.2.2'] });
    const socket = await host.bindUdp({ port: 0 });
    closers.push(() => socket.close());
    // serve's fleet: A while it lives, then B.
    const asked: string[] = [];
    const credentials = (): Promise<RelayCredentials> => {
      const relay = aDead ? RELAY_B : RELAY_A;
      asked.push(url(relay));
      const c = mintTurnCredentials(SECRET, 'alice', 3_600, clock.now());
      return Promise.resolve({ ...c, urls: [url(relay)] });
    };
    const gatherer = new CandidateGatherer({
      socket,
      transactions: new StunTransactions({ send: (b, to) => socket.send(b, to), clock }),
      clock,
      interfaces: () => [],
      // The fixed server is neither: the credentials' URL must win.
      turn: { server: { address: '203.0.113.99', port: 3478 }, credentials },
    });
    closers.push(() => gatherer.close());
    const changes: (TurnClient | undefined)[] = [];
    gatherer.onRelayChange((r) => changes.push(r));

    gatherer.ensureRelay();
    for (let i = 0; i < 20 && changes.length === 0; i++) await clock.advanceAsync(10);
    expect(changes).toHaveLength(1);
    expect(changes[0]!.server).toEqual(RELAY_A);

    aDead = true;
    gatherer.checkRelay();
    await clock.advanceAsync(3_000); // the probe's Refresh times out: lost
    expect(changes[1]).toBeUndefined();
    expect(changes).toHaveLength(2);
    expect(gatherer.relay).toBeUndefined();
    await clock.advanceAsync(1_000); // the first re-allocation, 1 s later
    for (let i = 0; i < 100 && changes.length < 3; i++) await clock.advanceAsync(10);
    expect(changes).toHaveLength(3);
    expect(changes[2]!.server).toEqual(RELAY_B);
    expect(gatherer.relay).toBe(changes[2]);
    expect(asked).toEqual([url(RELAY_A), url(RELAY_B)]);
  });
});
