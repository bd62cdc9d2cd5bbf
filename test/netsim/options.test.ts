/**
 * NAT options, measured: carrier-grade NAT (RFC 6598), a UDP-blocking firewall, and the UDP
 * binding timeout (RFC 4787 §4.3).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../netsim/index.js';
import { NETSIM_REQUIREMENTS, missingPrereq } from '../support/prereq.js';
import { Probe, punchTogether } from '../support/probe.js';

const skip = missingPrereq('netsim', NETSIM_REQUIREMENTS);

/**
 * Long enough that the "fresh" check below (idle a quarter of it, then the server's packet must
 * get in) has 6 s for the test's own lag: the server probe's report of the first packet, the
 * timer, the send command over stdin, each a process that a loaded 2-core machine may not run
 * for a second or more. At 4 s (3 s of margin) and 2 s (1 s) that lag could let the binding
 * expire before the packet that must find it.
 */
const BINDING_TIMEOUT_SEC = 8;
/** A datagram that must arrive: returns at the datagram, so only a failing check waits it out. */
const ARRIVES_MS = 10_000;
/** A datagram that must not: long enough that one still crossing a loaded machine shows up. */
const SILENCE_MS = 3_000;

function inCarrierSpace(ip: string): boolean {
  const [a, b] = ip.split('.').map(Number) as [number, number];
  return a === 100 && b >= 64 && b < 128; // 100.64.0.0/10
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(skip)('netsim NAT options, measured', () => {
  let lab: Lab;
  let server: Probe;
  let udp: { sock: string; port: number };
  let tcp: { sock: string; port: number };
  const probes: Probe[] = [];

  beforeAll(async () => {
    lab = await Lab.create({
      nats: [
        { name: 'cgn', preset: 'port-restricted' },
        { name: 'home', preset: 'full-cone', behind: 'cgn' },
        { name: 'home2', preset: 'port-restricted', behind: 'cgn' },
        { name: 'fw', preset: 'port-restricted', udpBlocked: true },
        { name: 'pr-short', preset: 'port-restricted', udpBindingTimeoutSec: BINDING_TIMEOUT_SEC },
        { name: 'fc-short', preset: 'full-cone', udpBindingTimeoutSec: BINDING_TIMEOUT_SEC },
        { name: 'pr-default', preset: 'port-restricted' },
        { name: 'cgn-hp', preset: 'port-restricted', hairpinning: true },
        { name: 'home3', preset: 'port-restricted', behind: 'cgn-hp' },
        { name: 'home4', preset: 'restricted-cone', behind: 'cgn-hp' },
      ],
      hosts: [
        { name: 'mobile', behind: 'cgn' },
        { name: 'a', behind: 'home' },
        { name: 'b', behind: 'home2' },
        { name: 'office', behind: 'fw' },
        { name: 'idle-pr', behind: 'pr-short' },
        { name: 'idle-fc', behind: 'fc-short' },
        { name: 'idle-default', behind: 'pr-default' },
        { name: 'c', behind: 'home3' },
        { name: 'd', behind: 'home4' },
      ],
    });
    server = await Probe.start(lab, 'server');
    probes.push(server);
    udp = await server.bind(0, lab.address('server'));
    tcp = await server.tcpListen();
  });

  afterAll(async () => {
    for (const p of probes) p.close();
    await lab?.destroy();
  });

  async function probe(host: string): Promise<Probe> {
    const p = await Probe.start(lab, host);
    probes.push(p);
    return p;
  }

  async function mappedOf(p: Probe, sock: string, tag: string): Promise<string> {
    p.send(sock, lab.address('server'), udp.port, tag);
    const got = await server.recv(udp.sock, ARRIVES_MS, tag);
    expect(got, `server heard ${tag}`).toBeDefined();
    return got!.from;
  }

  it('carrier-grade NAT: home NATs sit in 100.64.0.0/10 and hosts map to the CGN address', async () => {
    expect(inCarrierSpace(lab.address('home'))).toBe(true);
    expect(inCarrierSpace(lab.address('home2'))).toBe(true);
    expect(inCarrierSpace(lab.address('mobile'))).toBe(true);
    for (const host of ['a', 'b', 'mobile']) {
      const p = await probe(host);
      const { sock } = await p.bind();
      const m = await mappedOf(p, sock, `cgn-${host}`);
      expect(m.split(':')[0]).toBe(lab.address('cgn'));
    }
  });

  /** Both sides send to each other's CGN-mapped address; true when both hear the other. */
  async function punch(x: string, y: string): Promise<boolean> {
    const [px, py] = [await probe(x), await probe(y)];
    const [sx, sy] = [await px.bind(), await py.bind()];
    const [mx, my] = [
      await mappedOf(px, sx.sock, `punch-${x}`),
      await mappedOf(py, sy.sock, `punch-${y}`),
    ];
    // Together until each heard the other, or 10 s (see punch.test.ts): the two probes may be
    // scheduled seconds apart on a loaded machine, and each side's punches must leave after the
    // other's first one.
    const [atX, atY] = await punchTogether(
      { p: px, sock: sx.sock, to: my },
      { p: py, sock: sy.sock, to: mx },
    );
    return atX?.from === my && atY?.from === mx;
  }

  it('two subscribers of one CGN punch through it only if the CGN hairpins (RFC 4787 REQ-9)', async () => {
    expect(await punch('c', 'd')).toBe(true);
    expect(await punch('a', 'b')).toBe(false);
  });

  it('udp-blocked: UDP never leaves, TCP connects', async () => {
    const p = await probe('office');
    const { sock } = await p.bind();
    p.send(sock, lab.address('server'), udp.port, 'blocked?');
    expect(await server.recv(udp.sock, SILENCE_MS, 'blocked?')).toBeUndefined();
    expect(await p.tcpConnect(lab.address('server'), tcp.port, ARRIVES_MS)).toBe(true);
    // Control: the same preset without the firewall passes UDP (host b's NAT, via the CGN).
    const q = await probe('b');
    const s = await q.bind();
    await mappedOf(q, s.sock, 'not-blocked');
  });

  // The control row (Linux's default 30/120 s) shows the idle wait alone does not lose packets.
  it.concurrent.each([
    ['idle-pr', true],
    ['idle-fc', true],
    ['idle-default', false],
  ])(
    `binding timeout ${BINDING_TIMEOUT_SEC}s (%s): expires after idling: %s`,
    async (host, expires) => {
      const p = await probe(host);
      // Fresh: idle for a quarter of the timeout, then the server's packet still gets in. (Lag
      // only lengthens the idle time, so this check gets the margin; the stale one needs none.)
      const fresh = await p.bind();
      const m1 = await mappedOf(p, fresh.sock, `${host}-fresh`);
      await sleep((BINDING_TIMEOUT_SEC * 1000) / 4);
      const [ip1, port1] = m1.split(':') as [string, string];
      server.send(udp.sock, ip1, Number(port1), `${host}-still-there`);
      expect(await p.recv(fresh.sock, ARRIVES_MS, `${host}-still-there`)).toBeDefined();
      // Stale: idle for the timeout plus a margin; the binding is gone and the packet is dropped.
      const stale = await p.bind();
      const m2 = await mappedOf(p, stale.sock, `${host}-stale`);
      await sleep(BINDING_TIMEOUT_SEC * 1000 + 1_500);
      const [ip2, port2] = m2.split(':') as [string, string];
      server.send(udp.sock, ip2, Number(port2), `${host}-expired`);
      const got = await p.recv(stale.sock, expires ? SILENCE_MS : ARRIVES_MS, `${host}-expired`);
      expect(got === undefined).toBe(expires);
    },
  );
});
