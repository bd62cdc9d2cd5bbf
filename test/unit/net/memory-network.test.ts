/**
 * The in-memory NAT behaves as its RFC 4787 description says: each test sends real datagrams
 * through MemoryNat boxes and checks what the outside sees and what gets back in.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint, UdpSocket } from '../../../src/net/index.js';
import { MemoryNetwork, NAT_PRESETS } from '../../../src/net/index.js';
import type { NatBehavior } from '../../../src/net/index.js';
import { ManualClock } from '../../../src/util/clock.js';

const sockets: UdpSocket[] = [];
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()));
});

function inbox(s: UdpSocket): { data: string; from: Endpoint }[] {
  const got: { data: string; from: Endpoint }[] = [];
  s.onMessage((d, from) => got.push({ data: Buffer.from(d).toString(), from }));
  return got;
}

async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

async function lab(behavior: Partial<NatBehavior>) {
  const clock = new ManualClock();
  const net = new MemoryNetwork({ clock });
  const nat = net.addNat({ publicAddress: '198.51.100.7', behavior });
  const inside = net.addHost({ addresses: ['192.168.1.2'], behind: nat });
  const server = net.addHost({ addresses: ['203.0.113.1', '203.0.113.2'] });
  const client = await inside.bindUdp({ port: 5000 });
  const s1 = await server.bindUdp({ address: '203.0.113.1', port: 3478 });
  const s1b = await server.bindUdp({ address: '203.0.113.1', port: 3479 });
  const s2 = await server.bindUdp({ address: '203.0.113.2', port: 3478 });
  sockets.push(client, s1, s1b, s2);
  return { clock, net, nat, client, s1, s1b, s2, inside, server };
}

describe('MemoryNat mapping behaviour (RFC 4787 §4.1)', () => {
  it.each([
    ['full-cone', true, true],
    ['restricted-cone', true, true],
    ['port-restricted', true, true],
    ['symmetric', false, false],
  ] as const)(
    '%s: same mapping to another port %s, to another address %s',
    async (preset, samePort, sameAddr) => {
      const { client, s1, s1b, s2 } = await lab(NAT_PRESETS[preset]);
      const [a, b, c] = [inbox(s1), inbox(s1b), inbox(s2)];
      client.send(Buffer.from('x'), { address: '203.0.113.1', port: 3478 });
      client.send(Buffer.from('y'), { address: '203.0.113.1', port: 3479 });
      client.send(Buffer.from('z'), { address: '203.0.113.2', port: 3478 });
      await flush();
      expect(a[0]!.from.address).toBe('198.51.100.7');
      expect(b[0]!.from.port === a[0]!.from.port).toBe(samePort);
      expect(c[0]!.from.port === a[0]!.from.port).toBe(sameAddr);
      // Port preservation: the cones keep 5000; symmetric picks random ports.
      expect(a[0]!.from.port === 5000).toBe(preset !== 'symmetric');
    },
  );

  it('address-dependent mapping: same port per remote address, new per address', async () => {
    const { client, s1, s1b, s2 } = await lab({
      mapping: 'address-dependent',
      portPreservation: false,
    });
    const [a, b, c] = [inbox(s1), inbox(s1b), inbox(s2)];
    client.send(Buffer.from('x'), { address: '203.0.113.1', port: 3478 });
    client.send(Buffer.from('y'), { address: '203.0.113.1', port: 3479 });
    client.send(Buffer.from('z'), { address: '203.0.113.2', port: 3478 });
    await flush();
    expect(b[0]!.from.port).toBe(a[0]!.from.port);
    expect(c[0]!.from.port).not.toBe(a[0]!.from.port);
  });
});

describe('MemoryNat filtering behaviour (RFC 4787 §5)', () => {
  it.each([
    ['full-cone', true, true],
    ['restricted-cone', true, false],
    ['port-restricted', false, false],
  ] as const)(
    '%s: reply from other port %s, from other address %s',
    async (preset, otherPort, otherAddr) => {
      const { client, s1, s1b, s2, net } = await lab(NAT_PRESETS[preset]);
      const got = inbox(client);
      const seen = inbox(s1);
      client.send(Buffer.from('hi'), { address: '203.0.113.1', port: 3478 });
      await flush();
      const mapped = seen[0]!.from;
      s1.send(Buffer.from('same'), mapped);
      s1b.send(Buffer.from('port'), mapped);
      s2.send(Buffer.from('addr'), mapped);
      await flush();
      const texts = got.map((g) => g.data);
      expect(texts).toContain('same');
      expect(texts.includes('port')).toBe(otherPort);
      expect(texts.includes('addr')).toBe(otherAddr);
      expect(got.find((g) => g.data === 'same')!.from).toMatchObject({
        address: '203.0.113.1',
        port: 3478,
      });
      if (!otherAddr) expect(net.dropped.get('filtered')).toBeGreaterThan(0);
    },
  );
});

describe('MemoryNat other behaviour', () => {
  it('expires idle mappings on the clock, refreshed only by outbound traffic', async () => {
    const { client, s1, clock, nat, net } = await lab({
      ...NAT_PRESETS['full-cone'],
      mappingTimeoutMs: 30_000,
    });
    const got = inbox(client);
    const seen = inbox(s1);
    client.send(Buffer.from('a'), { address: '203.0.113.1', port: 3478 });
    await flush();
    const mapped = seen[0]!.from;
    clock.advance(29_000);
    s1.send(Buffer.from('inbound'), mapped); // inbound does not refresh (RFC 4787 REQ-6)
    await flush();
    expect(got).toHaveLength(1);
    clock.advance(1_000);
    s1.send(Buffer.from('late'), mapped);
    await flush();
    expect(got).toHaveLength(1);
    expect(net.dropped.get('no-mapping')).toBe(1);
    expect(nat.mappingCount).toBe(0);
  });

  it('hairpinning delivers to another inside host via the public address only when enabled', async () => {
    for (const hairpinning of [true, false]) {
      const { net, nat, client } = await lab({ ...NAT_PRESETS['full-cone'], hairpinning });
      const other = await net
        .addHost({ addresses: ['192.168.1.3'], behind: nat })
        .bindUdp({ port: 6000 });
      sockets.push(other);
      const got = inbox(other);
      // Open other's mapping (full cone: anyone may then send to 198.51.100.7:6000).
      other.send(Buffer.from('open'), { address: '203.0.113.1', port: 3478 });
      client.send(Buffer.from('loop'), { address: '198.51.100.7', port: 6000 });
      await flush();
      expect(got.map((g) => g.data)).toEqual(hairpinning ? ['loop'] : []);
      if (hairpinning)
        expect(got[0]!.from).toEqual({ address: '198.51.100.7', port: 5000, family: 'IPv4' });
    }
  });

  it('nests: a home NAT behind a carrier-grade NAT shows the CGN address outside', async () => {
    const clock = new ManualClock();
    const net = new MemoryNetwork({ clock });
    const cgn = net.addNat({ publicAddress: '203.0.113.50', behavior: NAT_PRESETS.symmetric });
    const home = net.addNat({
      publicAddress: '100.64.0.2',
      behavior: NAT_PRESETS['port-restricted'],
      behind: cgn,
    });
    const host = await net
      .addHost({ addresses: ['192.168.1.2'], behind: home })
      .bindUdp({ port: 5000 });
    const server = await net.addHost({ addresses: ['203.0.113.1'] }).bindUdp({ port: 3478 });
    sockets.push(host, server);
    const seen = inbox(server);
    const got = inbox(host);
    host.send(Buffer.from('q'), { address: '203.0.113.1', port: 3478 });
    await flush();
    expect(seen[0]!.from.address).toBe('203.0.113.50');
    server.send(Buffer.from('r'), seen[0]!.from);
    await flush();
    expect(got.map((g) => g.data)).toEqual(['r']);
  });

  it('udp-blocked lets nothing out', async () => {
    const { client, s1, net } = await lab(NAT_PRESETS['udp-blocked']);
    const seen = inbox(s1);
    client.send(Buffer.from('x'), { address: '203.0.113.1', port: 3478 });
    await flush();
    expect(seen).toHaveLength(0);
    expect(net.dropped.get('udp-blocked')).toBe(1);
  });

  it('refuses duplicate binds and foreign addresses', async () => {
    const { inside } = await lab(NAT_PRESETS['full-cone']);
    await expect(inside.bindUdp({ port: 5000 })).rejects.toThrow(/EADDRINUSE/);
    await expect(inside.bindUdp({ address: '10.9.9.9' })).rejects.toThrow(/EADDRNOTAVAIL/);
  });
});
