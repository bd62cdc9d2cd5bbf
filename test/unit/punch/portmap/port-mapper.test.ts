/**
 * PortMapper against scripted routers on the in-memory network (manual clock): protocol choice
 * and RFC 6887 §9 version fallback both ways, renewal at half the lifetime and delete on close,
 * bounded probing (no floods), and hostile routers — a forged answer from another LAN host, a
 * grant for a port we did not ask for, a grant on a carrier-grade-NAT address — each ending in
 * a typed error or being ignored. UPnP runs over a scripted SSDP responder and HTTP.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../../../../src/net/memory-network.js';
import type { UdpSocket } from '../../../../src/net/udp.js';
import { PortMapper } from '../../../../src/punch/portmap/port-mapper.js';
import type { HttpClient, HttpRequest } from '../../../../src/punch/portmap/http-client.js';
import { ManualClock } from '../../../../src/util/clock.js';

const GW = '192.168.1.1';
const ME = '192.168.1.10';
const PUB = '203.0.113.100';

interface Router {
  /** NAT-PMP requests seen (raw). */
  natpmp: Uint8Array[];
  pcp: Uint8Array[];
}

/** `reply` answers later (a router still working on a request). */
type Handler = (
  req: Uint8Array,
  r: Router,
  reply: (res: Uint8Array) => void,
) => Uint8Array | undefined;

const u16 = (n: number) => [n >> 8, n & 0xff];
const u32 = (n: number) => [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];

/** A well-behaved NAT-PMP + PCP server (like miniupnpd), granting what is asked. */
function goodNatpmp(req: Uint8Array, address = PUB): Uint8Array | undefined {
  if (req[1] === 0)
    return Uint8Array.from([0, 128, 0, 0, ...u32(1), ...address.split('.').map(Number)]);
  const v = new DataView(req.buffer, req.byteOffset);
  const internal = v.getUint16(4);
  const lifetime = v.getUint32(8);
  const ext = lifetime === 0 ? 0 : v.getUint16(6) || internal;
  return Uint8Array.from([
    0,
    128 + req[1]!,
    0,
    0,
    ...u32(1),
    ...u16(internal),
    ...u16(ext),
    ...u32(Math.min(lifetime, 120)),
  ]);
}

function goodPcp(req: Uint8Array, address = PUB): Uint8Array | undefined {
  const res = req.slice();
  res[1] = 0x80 | req[1]!;
  res[2] = 0;
  res[3] = 0;
  res.set(
    u32(req[1] === 0 ? 0 : Math.min(new DataView(req.buffer, req.byteOffset).getUint32(4), 120)),
    4,
  );
  res.set(u32(1), 8);
  res.fill(0, 12, 24);
  if (req[1] === 1) {
    res.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...address.split('.').map(Number)], 44);
  }
  return res;
}

const both: Handler = (req, r) => {
  if (req[0] === 0) return (r.natpmp.push(req), goodNatpmp(req));
  return (r.pcp.push(req), goodPcp(req));
};

let open: UdpSocket[] = [];
let mappers: [PortMapper, ManualClock][] = [];
afterEach(async () => {
  for (const [m, clock] of mappers) await settle(clock, m.close());
  for (const s of open) await s.close();
  open = [];
  mappers = [];
});

async function setup(handler: Handler, opts: { attacker?: boolean } = {}) {
  const clock = new ManualClock();
  const net = new MemoryNetwork({ clock, latencyMs: 1 });
  const nat = net.addNat({ publicAddress: PUB });
  const gw = net.addHost({ addresses: [GW], behind: nat });
  const me = net.addHost({ addresses: [ME], behind: nat });
  const evil = opts.attacker
    ? net.addHost({ addresses: ['192.168.1.66'], behind: nat })
    : undefined;
  const evilSock = evil ? await evil.bindUdp({ port: 5351 }) : undefined;
  if (evilSock) open.push(evilSock);
  const router: Router = { natpmp: [], pcp: [] };
  const sock = await gw.bindUdp({ port: 5351 });
  open.push(sock);
  sock.onMessage((data, from) => {
    // A LAN attacker races the router with a forged grant for another port.
    if (evilSock && data[0] === 0 && data[1] === 1) {
      const forged = goodNatpmp(data)!;
      forged[10] = 0x11;
      forged[11] = 0x11;
      evilSock.send(forged, from);
      clock.setTimeout(() => {
        const res = handler(data, router, (later) => sock.send(later, from));
        if (res) sock.send(res, from);
      }, 5);
      return;
    }
    const res = handler(data, router, (later) => sock.send(later, from));
    if (res) sock.send(res, from);
  });
  const mapper = (protocols: ('pcp' | 'natpmp' | 'upnp')[], http?: HttpClient) => {
    const m = new PortMapper({
      net: me,
      clock,
      gateway: GW,
      localAddress: ME,
      protocols,
      ...(http ? { http } : {}),
    });
    mappers.push([m, clock]);
    return m;
  };
  return { clock, net, me, router, mapper };
}

async function settle<T>(clock: ManualClock, p: Promise<T>, ms = 6_000): Promise<T> {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let t = 0; t < ms && !done; t += 50) await clock.advanceAsync(50);
  return p;
}

describe('protocol choice and version fallback (RFC 6887 §9)', () => {
  it('NAT-PMP-only router: the PCP probe is answered with version 0; NAT-PMP maps', async () => {
    const w = await setup((req, r) =>
      req[0] === 0
        ? (r.natpmp.push(req), goodNatpmp(req))
        : Uint8Array.from([0, 128 + req[1]!, 0, 1, 0, 0, 0, 0]),
    );
    const m = await settle(w.clock, w.mapper(['pcp', 'natpmp']).map(4000));
    expect(m).toMatchObject({ via: 'natpmp', external: { address: PUB, port: 4000 } });
  });

  it('asked for PCP only, a NAT-PMP-only router still maps (fallback to NAT-PMP)', async () => {
    const w = await setup((req, r) =>
      req[0] === 0
        ? (r.natpmp.push(req), goodNatpmp(req))
        : Uint8Array.from([0, 128 + req[1]!, 0, 1, 0, 0, 0, 0]),
    );
    const m = await settle(w.clock, w.mapper(['pcp']).map(4000));
    expect(m.via).toBe('natpmp');
  });

  it('asked for NAT-PMP only, a PCP-only router answers version 2: PCP maps', async () => {
    const w = await setup((req, r) => {
      if (req[0] === 0) return Uint8Array.from([2, 0x80 | req[1]!, 0, 1, ...new Array(20).fill(0)]);
      r.pcp.push(req);
      return goodPcp(req);
    });
    const m = await settle(w.clock, w.mapper(['natpmp']).map(4000));
    expect(m).toMatchObject({ via: 'pcp', external: { address: PUB, port: 4000 } });
  });

  it('a router with both: one MAP request in all (the probes change nothing)', async () => {
    const w = await setup(both);
    const m = await settle(w.clock, w.mapper(['pcp', 'natpmp']).map(4000));
    const maps =
      w.router.natpmp.filter((q) => q[1] === 1).length +
      w.router.pcp.filter((q) => q[1] === 1).length;
    expect(maps).toBe(1);
    expect(['pcp', 'natpmp']).toContain(m.via);
  });
});

describe('lifetime', () => {
  it('renews at half the granted lifetime and deletes on close (NAT-PMP lifetime 0)', async () => {
    const w = await setup(both);
    const pm = w.mapper(['natpmp']);
    await settle(w.clock, pm.map(4000));
    const maps = () => w.router.natpmp.filter((q) => q[1] === 1);
    expect(maps()).toHaveLength(1);
    await w.clock.advanceAsync(59_000);
    expect(maps()).toHaveLength(1);
    await w.clock.advanceAsync(2_000); // granted 120 s → renewed at 60 s
    expect(maps()).toHaveLength(2);
    const close = pm.close();
    await settle(w.clock, close);
    const last = maps().at(-1)!;
    expect(new DataView(last.buffer, last.byteOffset).getUint32(8)).toBe(0);
    expect(pm.mapping).toBeUndefined();
  });

  it('closed while the router is granting: the late grant is deleted, never left orphaned', async () => {
    let pending: (() => void) | undefined;
    const w = await setup((req, r, reply) => {
      if (req[0] !== 0) return undefined; // NAT-PMP only
      r.natpmp.push(req);
      const map = req[1] === 1 && new DataView(req.buffer, req.byteOffset).getUint32(8) > 0;
      if (map && !pending) {
        // The first MAP: granted, but the answer leaves only when the test says so.
        pending = () => reply(goodNatpmp(req)!);
        return undefined;
      }
      return goodNatpmp(req);
    });
    const pm = w.mapper(['natpmp']);
    const mapped = pm.map(4000);
    mapped.catch(() => {});
    for (let i = 0; i < 100 && !pending; i++) await w.clock.advanceAsync(10);
    expect(pending).toBeDefined();
    const closed = pm.close();
    pending!(); // the router granted; its answer arrives after close() began
    await settle(w.clock, closed);
    await expect(mapped).rejects.toMatchObject({ code: 'NATPUSH_ERR_PORTMAP_CLOSED' });
    const maps = w.router.natpmp.filter((q) => q[1] === 1);
    const last = maps.at(-1)!;
    expect(maps).toHaveLength(2); // the grant, then its delete
    expect(new DataView(last.buffer, last.byteOffset).getUint32(8)).toBe(0);
    expect(pm.mapping).toBeUndefined();
  });

  it('PCP renews with the same nonce and deletes with lifetime 0', async () => {
    const w = await setup(both);
    const pm = w.mapper(['pcp']);
    await settle(w.clock, pm.map(4000));
    await w.clock.advanceAsync(61_000);
    await settle(w.clock, pm.close());
    const maps = w.router.pcp.filter((q) => q[1] === 1);
    expect(maps).toHaveLength(3);
    const nonces = maps.map((q) => Buffer.from(q.subarray(24, 36)).toString('hex'));
    expect(new Set(nonces).size).toBe(1);
    expect(new DataView(maps[2]!.buffer, maps[2]!.byteOffset).getUint32(4)).toBe(0);
  });

  it('a router that stops answering: the mapping is reported lost at expiry', async () => {
    let alive = true;
    const w = await setup((req, r, reply) => (alive ? both(req, r, reply) : undefined));
    const pm = w.mapper(['natpmp']);
    const lost: unknown[] = [];
    pm.onChange((m) => lost.push(m));
    await settle(w.clock, pm.map(4000));
    alive = false;
    await w.clock.advanceAsync(130_000);
    expect(lost).toEqual([undefined]);
    expect(pm.mapping).toBeUndefined();
  });
});

describe('no router, hostile routers', () => {
  it('nobody answers: NO_GATEWAY after the probe timeout, few packets (no flood)', async () => {
    const w = await setup((req, r) => {
      (req[0] === 0 ? r.natpmp : r.pcp).push(req);
      return undefined;
    });
    await expect(settle(w.clock, w.mapper(['pcp', 'natpmp']).map(4000))).rejects.toMatchObject({
      code: 'NATPUSH_ERR_PORTMAP_NO_GATEWAY',
    });
    // RFC 6886: 250, 500, 1000, 2000 ms → 5 sends in 5 s; RFC 6887: 3 s → 2 sends.
    expect(w.router.natpmp.length).toBeLessThanOrEqual(5);
    expect(w.router.pcp.length).toBeLessThanOrEqual(2);
  });

  it("a forged grant from another LAN host is ignored; the router's grant is used", async () => {
    const w = await setup(both, { attacker: true });
    const m = await settle(w.clock, w.mapper(['natpmp']).map(4000));
    expect(m.external.port).toBe(4000);
  });

  it('a grant for an internal port we did not ask for: UNEXPECTED_MAPPING, not used', async () => {
    const w = await setup((req) => {
      const res = goodNatpmp(req)!;
      if (req[1] === 1) res[9] = (res[9]! + 1) & 0xff; // internal port + 1
      return res;
    });
    await expect(settle(w.clock, w.mapper(['natpmp']).map(4000))).rejects.toMatchObject({
      code: 'NATPUSH_ERR_PORTMAP_NO_GATEWAY',
      message: expect.stringMatching(/asked udp internal port 4000, granted udp 4001/),
    });
  });

  it('behind carrier-grade NAT (grant on 100.64.x.x): NOT_PUBLIC, and the grant is deleted', async () => {
    const w = await setup((req, r) => (r.natpmp.push(req), goodNatpmp(req, '100.64.1.100')));
    await expect(settle(w.clock, w.mapper(['natpmp']).map(4000))).rejects.toMatchObject({
      code: 'NATPUSH_ERR_PORTMAP_NOT_PUBLIC',
    });
    const last = w.router.natpmp.at(-1)!;
    expect(last[1]).toBe(1);
    expect(new DataView(last.buffer, last.byteOffset).getUint32(8)).toBe(0);
  });

  it('a double NAT (grant address ≠ the address STUN saw): NOT_PUBLIC', async () => {
    const w = await setup(both);
    await expect(
      settle(w.clock, w.mapper(['pcp']).map(4000, { reflexiveAddress: '198.51.100.7' })),
    ).rejects.toMatchObject({ code: 'NATPUSH_ERR_PORTMAP_NOT_PUBLIC' });
  });
});

describe('UPnP-IGD over scripted SSDP and HTTP', () => {
  async function upnpSetup(faults: Record<string, number> = {}) {
    const clock = new ManualClock();
    const net = new MemoryNetwork({ clock, latencyMs: 1 });
    const nat = net.addNat({ publicAddress: PUB });
    const gwHost = net.addHost({ addresses: [GW], behind: nat });
    const me = net.addHost({ addresses: [ME], behind: nat });
    // The SSDP group lives in the LAN as a host of its own; the router answers from its address.
    const group = net.addHost({ addresses: ['239.255.255.250'], behind: nat });
    const gsock = await group.bindUdp({ port: 1900 });
    const gwSsdp = await gwHost.bindUdp({ port: 1900 });
    open.push(gsock, gwSsdp);
    gsock.onMessage((_d, from) => {
      const answer = new TextEncoder().encode(
        `HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:2\r\nLOCATION: http://${GW}:2869/rootDesc.xml\r\n\r\n`,
      );
      gwSsdp.send(answer, from);
    });
    const calls: HttpRequest[] = [];
    const http: HttpClient = (req) => {
      calls.push(req);
      if (req.method === 'GET') {
        return Promise.resolve({
          status: 200,
          body: `<root><device><deviceList><device><serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</serviceType><controlURL>/ctl/IPConn</controlURL></service></serviceList></device></deviceList></device></root>`,
        });
      }
      const action = /#(\w+)"/.exec(req.headers.soapaction!)![1]!;
      if (faults[action]) {
        return Promise.resolve({
          status: 500,
          body: `<s:Envelope><s:Body><s:Fault><detail><UPnPError><errorCode>${faults[action]}</errorCode><errorDescription>x</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`,
        });
      }
      const out =
        action === 'GetExternalIPAddress'
          ? `<NewExternalIPAddress>${PUB}</NewExternalIPAddress>`
          : action === 'AddAnyPortMapping'
            ? '<NewReservedPort>40123</NewReservedPort>'
            : '';
      return Promise.resolve({
        status: 200,
        body: `<s:Envelope><s:Body><u:R>${out}</u:R></s:Body></s:Envelope>`,
      });
    };
    const pm = new PortMapper({
      net: me,
      clock,
      gateway: GW,
      localAddress: ME,
      protocols: ['upnp'],
      http,
    });
    mappers.push([pm, clock]);
    return { clock, calls, pm };
  }

  it('maps with AddPortMapping (our address, UDP, lease) and deletes on close', async () => {
    const { clock, calls, pm } = await upnpSetup();
    const m = await settle(clock, pm.map(4000));
    expect(m).toMatchObject({ via: 'upnp', external: { address: PUB, port: 4000 } });
    const add = calls.find((c) => c.headers.soapaction?.includes('AddPortMapping'))!;
    expect(add.url).toBe(`http://${GW}:2869/ctl/IPConn`);
    expect(add.body).toContain(`<NewInternalClient>${ME}</NewInternalClient>`);
    expect(add.body).toContain('<NewProtocol>UDP</NewProtocol>');
    expect(add.body).toContain('<NewLeaseDuration>7200</NewLeaseDuration>');
    await settle(clock, pm.close());
    expect(calls.at(-1)!.headers.soapaction).toContain('DeletePortMapping');
    expect(calls.at(-1)!.body).toContain('<NewExternalPort>4000</NewExternalPort>');
  });

  it('IGDv2 conflict (718): AddAnyPortMapping takes the port the router reserves', async () => {
    const { clock, pm } = await upnpSetup({ AddPortMapping: 718 });
    const m = await settle(clock, pm.map(4000));
    expect(m.external.port).toBe(40123);
  });

  it('a refusal (e.g. 606 Action not authorized) is REFUSED → NO_GATEWAY with the reason', async () => {
    const { clock, pm } = await upnpSetup({ AddPortMapping: 606 });
    await expect(settle(clock, pm.map(4000))).rejects.toMatchObject({
      code: 'NATPUSH_ERR_PORTMAP_NO_GATEWAY',
      message: expect.stringMatching(/AddPortMapping: error 606/),
    });
  });
});
