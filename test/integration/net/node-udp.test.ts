import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint, UdpSocket } from '../../../src/net/index.js';
import { nodeUdpNetwork } from '../../../src/net/index.js';

const open: UdpSocket[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

describe('nodeUdpNetwork on loopback', () => {
  it('sends and receives with the remote endpoint; several listeners; unsubscribe', async () => {
    const a = await nodeUdpNetwork.bindUdp({ address: '127.0.0.1' });
    const b = await nodeUdpNetwork.bindUdp({ address: '127.0.0.1' });
    open.push(a, b);
    expect(a.address().port).toBeGreaterThan(0);
    const second: string[] = [];
    const off = b.onMessage((d) => second.push(Buffer.from(d).toString()));
    const got = new Promise<{ data: string; from: Endpoint }>((resolve) =>
      b.onMessage((d, from) => resolve({ data: Buffer.from(d).toString(), from })),
    );
    a.send(Buffer.from('ping'), b.address());
    const r = await got;
    expect(r.data).toBe('ping');
    expect(r.from.address).toBe('127.0.0.1');
    expect(r.from.port).toBe(a.address().port);
    expect(second).toEqual(['ping']);
    off();
    await a.close();
    expect(a.closed).toBe(true);
    expect(() => a.send(Buffer.from('x'), b.address())).toThrow(TypeError);
  });

  it('IPv6 loopback', async () => {
    const a = await nodeUdpNetwork.bindUdp({ address: '::1' });
    open.push(a);
    const got = new Promise<Endpoint>((resolve) => a.onMessage((_d, from) => resolve(from)));
    a.send(Buffer.from('self'), a.address());
    expect((await got).family).toBe('IPv6');
  });
});
