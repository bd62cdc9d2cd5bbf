/**
 * Every NAT preset, measured from a host behind it (RFC 4787 terms):
 * - mapping (§4.1): one local socket sends to server:p1, server:p2 and alternate:p1; are the
 *   mapped address:port the server sees the same?
 * - filtering (§5): after a socket has sent to server:p1, does an unsolicited packet from
 *   server:p2 (other port) or alternate:p1 (other address) reach it?
 * - hairpinning (§6): a host sends to the public mapping of another host behind the same NAT.
 * The measured behaviour must equal the preset's definition.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Lab,
  NAT_PRESETS,
  type FilteringBehavior,
  type MappingBehavior,
  type NatPreset,
} from '../../netsim/index.js';
import { NETSIM_REQUIREMENTS, missingPrereq } from '../support/prereq.js';
import { Probe } from '../support/probe.js';

const skip = missingPrereq('netsim', NETSIM_REQUIREMENTS);

/** Long enough for a packet across the lab (well under 1 ms) many times over, on a busy box. */
const ARRIVES_MS = 5_000; // returns at the packet: only a missing one waits it out
const SILENCE_MS = 400;

const CASES: [NatPreset, string, MappingBehavior, FilteringBehavior][] = [
  ['full-cone', 'fc', 'endpoint-independent', 'endpoint-independent'],
  ['restricted-cone', 'rc', 'endpoint-independent', 'address-dependent'],
  ['port-restricted', 'pr', 'endpoint-independent', 'address-and-port-dependent'],
  ['symmetric', 'sym', 'address-and-port-dependent', 'address-and-port-dependent'],
];

describe.skipIf(skip)('netsim NAT presets, measured', () => {
  let lab: Lab;
  let server: Probe;
  const probes: Probe[] = [];
  let p1: { sock: string; port: number };
  let p2: { sock: string; port: number };
  let alt: { sock: string; port: number };

  beforeAll(async () => {
    lab = await Lab.create({
      nats: CASES.flatMap(([preset, short]) => [
        { name: `${short}-hp`, preset, hairpinning: true },
        { name: `${short}-nohp`, preset, hairpinning: false },
      ]),
      hosts: CASES.flatMap(([, short]) =>
        ['hp', 'nohp'].flatMap((h) => [
          { name: `${short}-${h}-a`, behind: `${short}-${h}` },
          { name: `${short}-${h}-b`, behind: `${short}-${h}` },
        ]),
      ),
    });
    server = await Probe.start(lab, 'server');
    probes.push(server);
    p1 = await server.bind(0, lab.address('server'));
    p2 = await server.bind(0, lab.address('server'));
    alt = await server.bind(p1.port, lab.alternateAddress('server'));
  });

  afterAll(async () => {
    for (const p of probes) p.close();
    await lab?.destroy();
  });

  async function hostProbe(node: string): Promise<Probe> {
    const p = await Probe.start(lab, node);
    probes.push(p);
    return p;
  }

  /** Sends from `sock` to a server socket and returns the source the server saw. */
  async function mapped(
    p: Probe,
    sock: string,
    to: { sock: string; port: number },
    host: string,
    tag: string,
  ) {
    p.send(sock, host, to.port, tag);
    const got = await server.recv(to.sock, ARRIVES_MS, tag);
    expect(got, `server got ${tag}`).toBeDefined();
    return got!.from;
  }

  describe.each(CASES)('%s', (preset, short, mapping, filtering) => {
    it('is defined as %s mapping × filtering', () => {
      expect(NAT_PRESETS[preset]).toMatchObject({ mapping, filtering });
    });

    it.each(['hp', 'nohp'])('measured mapping and filtering (%s)', async (h) => {
      const natName = `${short}-${h}`;
      const p = await hostProbe(`${natName}-a`);
      const { sock } = await p.bind();
      const m1 = await mapped(p, sock, p1, lab.address('server'), `${natName}-m1`);
      const m2 = await mapped(p, sock, p2, lab.address('server'), `${natName}-m2`);
      const m3 = await mapped(p, sock, alt, lab.alternateAddress('server'), `${natName}-m3`);
      for (const m of [m1, m2, m3]) expect(m.split(':')[0]).toBe(lab.address(natName));
      const measuredMapping: MappingBehavior =
        m1 === m2 && m1 === m3
          ? 'endpoint-independent'
          : m1 === m2
            ? 'address-dependent'
            : 'address-and-port-dependent';
      expect(measuredMapping).toBe(mapping);
      if (mapping === 'address-and-port-dependent') expect(new Set([m1, m2, m3]).size).toBe(3);

      // Filtering, on a fresh socket that has talked to server:p1 only.
      const f = await p.bind();
      const m = await mapped(p, f.sock, p1, lab.address('server'), `${natName}-f`);
      const [ip, port] = m.split(':') as [string, string];
      server.send(p2.sock, ip, Number(port), 'other-port');
      server.send(alt.sock, ip, Number(port), 'other-addr');
      server.send(p1.sock, ip, Number(port), 'same');
      // The control packet from the very endpoint contacted must always arrive.
      expect(await p.recv(f.sock, ARRIVES_MS, 'same')).toBeDefined();
      const otherPort = (await p.recv(f.sock, SILENCE_MS, 'other-port')) !== undefined;
      const otherAddr = (await p.recv(f.sock, SILENCE_MS, 'other-addr')) !== undefined;
      const measuredFiltering: FilteringBehavior =
        otherPort && otherAddr
          ? 'endpoint-independent'
          : otherPort
            ? 'address-dependent'
            : 'address-and-port-dependent';
      expect({ otherPort, otherAddr, measuredFiltering }).toMatchObject({
        measuredFiltering: filtering,
      });
      expect(otherAddr && !otherPort).toBe(false);
    });

    it('two hosts behind it on the same local port: one external port each, kept per host', async () => {
      const natName = `${short}-nohp`;
      const a = await hostProbe(`${natName}-a`);
      const b = await hostProbe(`${natName}-b`);
      const sa = await a.bind(45_000);
      const sb = await b.bind(45_000);
      // Toward different servers first: plain Linux SNAT would give both the external port 45000.
      const ma1 = await mapped(a, sa.sock, p1, lab.address('server'), `${natName}-same-a1`);
      const mb1 = await mapped(b, sb.sock, p2, lab.address('server'), `${natName}-same-b1`);
      expect(ma1).not.toBe(mb1);
      const ma2 = await mapped(a, sa.sock, p2, lab.address('server'), `${natName}-same-a2`);
      const mb2 = await mapped(b, sb.sock, p1, lab.address('server'), `${natName}-same-b2`);
      if (mapping === 'endpoint-independent') {
        expect(ma2).toBe(ma1);
        expect(mb2).toBe(mb1);
      }
      if (filtering === 'endpoint-independent') {
        // Each binding leads to its own host.
        for (const [m, tag] of [
          [ma1, 'to-a'],
          [mb1, 'to-b'],
        ] as const) {
          const [ip, port] = m.split(':') as [string, string];
          server.send(alt.sock, ip, Number(port), tag);
        }
        expect(await a.recv(sa.sock, ARRIVES_MS, 'to-a')).toBeDefined();
        expect(await b.recv(sb.sock, ARRIVES_MS, 'to-b')).toBeDefined();
      }
    });

    it.each([
      ['hp', true],
      ['nohp', false],
    ])('hairpinning (%s)', async (h, hairpinning) => {
      const natName = `${short}-${h}`;
      const a = await hostProbe(`${natName}-b`);
      const b = await hostProbe(`${natName}-a`);
      const sa = await a.bind();
      const sb = await b.bind();
      const ma = await mapped(a, sa.sock, p1, lab.address('server'), `${natName}-hpa`);
      const mb = await mapped(b, sb.sock, p1, lab.address('server'), `${natName}-hpb`);
      const [ip, port] = mb.split(':') as [string, string];
      a.send(sa.sock, ip, Number(port), 'hairpin');
      const got = await b.recv(sb.sock, hairpinning ? ARRIVES_MS : SILENCE_MS, 'hairpin');
      expect(got !== undefined).toBe(hairpinning);
      if (got) {
        // RFC 4787 REQ-9: the receiver sees the sender's external address (and, with
        // endpoint-independent mapping, the very mapping the server saw).
        expect(got.from.split(':')[0]).toBe(lab.address(natName));
        if (mapping === 'endpoint-independent') expect(got.from).toBe(ma);
        else expect(got.from).not.toBe(`${lab.address(`${natName}-b`)}:${sa.port}`);
      }
    });
  });
});
