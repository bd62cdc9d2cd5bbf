/**
 * Right after login (issue 9): the welcome carries the relay's credentials (protocol.ts
 * `welcome.turn`), so the punch layer's first STUN Binding to serve leaves at once instead of
 * after a `turn-credentials` round trip (2·D on the way to the first direct path). In virtual
 * time on the in-memory network: the Binding must reach serve's address before the clock moves
 * at all, and no `turn-credentials` request is made for it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../../../src/net/memory-network.js';
import type { UdpSocket } from '../../../src/net/udp.js';
import { PunchLayer } from '../../../src/peer/punch-layer.js';
import type { TurnCredentialsResult } from '../../../src/peer/turn-requests.js';
import { classifyPacket } from '../../../src/punch/demux.js';
import { generateIdentity } from '../../../src/signaling/identity.js';
import { ManualClock } from '../../../src/util/clock.js';
import { silentLogger } from '../../../src/util/logger.js';

const SERVER = '203.0.113.10';
const RELAY_PORT = 3478;
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function creds(clock: ManualClock): TurnCredentialsResult {
  const expires = Math.floor(clock.now() / 1000) + 3600;
  return {
    username: `${expires}:${generateIdentity().peerId}`,
    password: 'cGFzc3dvcmRwYXNzd29yZHBhc3M=',
    ttl: 3600,
    expires,
    urls: [
      `turn:${SERVER}:${RELAY_PORT}?transport=udp`,
      `turn:${SERVER}:${RELAY_PORT}?transport=tcp`,
    ],
  };
}

async function setup(welcome: boolean) {
  const clock = new ManualClock(1_700_000_000_000);
  const net = new MemoryNetwork({ clock });
  const serverHost = net.addHost({ addresses: [SERVER] });
  const host = net.addHost({ addresses: ['192.0.2.7'] });
  const relay: UdpSocket = await serverHost.bindUdp({ address: SERVER, port: RELAY_PORT });
  cleanup.push(() => relay.close());
  const stunAt: number[] = [];
  relay.onMessage((d) => {
    if (classifyPacket(d) === 'stun-request') stunAt.push(clock.now());
  });
  const asked: number[] = [];
  const unanswered: ((e: Error) => void)[] = [];
  const layer = new PunchLayer({
    enabled: true,
    peerId: generateIdentity().peerId,
    clock,
    logger: silentLogger,
    udp: host,
    interfaces: () => ['192.0.2.7'],
    // serve one round trip away, never answering within the test: asking costs the gather.
    turnCredentials: () => {
      asked.push(clock.now());
      return new Promise<TurnCredentialsResult>((_, reject) => unanswered.push(reject));
    },
    ...(welcome ? { welcomeTurn: () => creds(clock) } : {}),
    sendSignal: () => true,
    clockOffsetMs: () => 0,
    accept: () => true,
    onIncoming: () => {},
    closed: () => false,
    portmap: false,
    portPrediction: false,
  });
  cleanup.push(() => {
    for (const r of unanswered) r(new Error('test over'));
    return layer.close();
  });
  return { clock, layer, stunAt, asked };
}

/** Let promise chains and zero-latency deliveries run without moving the clock. */
async function settle(): Promise<void> {
  for (let i = 0; i < 50; i++) await new Promise<void>((r) => setImmediate(r));
}

describe('punch layer right after login', () => {
  it("sends its first STUN Binding to the welcome's relay at once, asking for no credentials", async () => {
    const { layer, stunAt, asked } = await setup(true);
    layer.warm();
    await settle();
    expect(stunAt.length).toBeGreaterThan(0);
    expect(stunAt[0]).toBe(1_700_000_000_000); // not one moment later
    expect(asked).toEqual([]);
  });

  it('without credentials in the welcome it asks first, and nothing reaches the relay meanwhile', async () => {
    const { layer, stunAt, asked } = await setup(false);
    layer.warm();
    await settle();
    expect(asked).toHaveLength(1);
    expect(stunAt).toEqual([]);
  });
});
