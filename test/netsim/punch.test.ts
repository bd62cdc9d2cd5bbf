/**
 * Raw UDP hole punching across every pair of presets, against what theory predicts
 * (RFC 4787 §4-5; RFC 5128 §3.3):
 * - both sides endpoint-independent mapping ("cone" × "cone"): each side sends to the other's
 *   server-observed address and both get through — `direct`;
 * - symmetric × full-cone / restricted-cone: the symmetric side's packets leave from a new
 *   mapping, which the cone side's NAT lets in (any sender, or a sender at an address it has
 *   sent to). The punch only completes if the cone side answers the source address it actually
 *   saw (a peer-reflexive candidate, RFC 8445 §7.2.5.3.1) — `peer-reflexive`;
 * - symmetric × port-restricted / symmetric: nothing gets in without port prediction — `fail`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, NAT_PRESETS, NAT_PRESET_NAMES, type NatPreset } from '../../netsim/index.js';
import { NETSIM_REQUIREMENTS, missingPrereq } from '../support/prereq.js';
import { Probe, punchTogether } from '../support/probe.js';

const skip = missingPrereq('netsim', NETSIM_REQUIREMENTS);

type Outcome = 'direct' | 'peer-reflexive' | 'fail';

const SHORT: Record<NatPreset, string> = {
  'full-cone': 'fc',
  'restricted-cone': 'rc',
  'port-restricted': 'pr',
  symmetric: 'sym',
  'address-dependent': 'adm',
  'symmetric-preserving': 'sympp',
  'symmetric-sequential': 'symseq',
};

/** Theory, written out independently of the implementation. */
function expected(x: NatPreset, y: NatPreset): Outcome {
  const eim = (p: NatPreset) => NAT_PRESETS[p].mapping === 'endpoint-independent';
  if (eim(x) && eim(y)) return 'direct';
  const lets = (p: NatPreset) => p === 'full-cone' || p === 'restricted-cone';
  if ((x === 'symmetric' && lets(y)) || (y === 'symmetric' && lets(x))) return 'peer-reflexive';
  return 'fail';
}

const PAIRS: [NatPreset, NatPreset, Outcome][] = [];
NAT_PRESET_NAMES.forEach((x, i) => {
  for (const y of NAT_PRESET_NAMES.slice(i)) PAIRS.push([x, y, expected(x, y)]);
});

// Both sides punch together (test/support/probe.ts `punchTogether`): at least 25 punches 40 ms
// apart, then on until each side heard the other or 10 s passed. A punch completes only if each
// side's packets leave after the other's first one did, and the two probe processes may be
// scheduled seconds apart on a loaded machine: with a fixed count, a stalled side heard the
// other's only after its own punches were dropped ('peer-reflexive', not 'direct'). Punching
// longer changes no theoretical outcome: a symmetric side's mapping is still per destination,
// and nothing gets through a port-restricted cone that has not sent to that very endpoint.
// The answers to what each side heard: generous, a probe process can stall for seconds.
const WINDOW_MS = 5_000;
/** The server's report of a side's first datagram: returns at the datagram. */
const WHOAMI_MS = 15_000;

describe.skipIf(skip)('netsim raw UDP hole punch, every pair of presets', () => {
  let lab: Lab;
  let server: Probe;
  let stun: { sock: string; port: number };
  const probes: Probe[] = [];

  beforeAll(async () => {
    lab = await Lab.create({
      nats: PAIRS.flatMap(([x, y], i) => [
        { name: `${SHORT[x]}-${i}-l`, preset: x },
        { name: `${SHORT[y]}-${i}-r`, preset: y },
      ]),
      hosts: PAIRS.flatMap(([x, y], i) => [
        { name: `l${i}`, behind: `${SHORT[x]}-${i}-l` },
        { name: `r${i}`, behind: `${SHORT[y]}-${i}-r` },
      ]),
    });
    server = await Probe.start(lab, 'server');
    probes.push(server);
    stun = await server.bind(0, lab.address('server'));
  });

  afterAll(async () => {
    for (const p of probes) p.close();
    await lab?.destroy();
  });

  async function side(host: string) {
    const p = await Probe.start(lab, host);
    probes.push(p);
    const { sock } = await p.bind();
    p.send(sock, lab.address('server'), stun.port, `whoami-${host}`);
    const seen = await server.recv(stun.sock, WHOAMI_MS, `whoami-${host}`);
    if (!seen) throw new Error(`server never heard from ${host} in ${WHOAMI_MS} ms`);
    return { p, sock, mapped: seen.from };
  }

  function sendTo(s: { p: Probe; sock: string }, addr: string, data: string): void {
    const [ip, port] = addr.split(':') as [string, string];
    s.p.send(s.sock, ip, Number(port), data);
  }

  it.concurrent.each(PAIRS.map((p, i) => [...p, i] as const))(
    '%s × %s: %s',
    async (_x, _y, want, i) => {
      const a = await side(`l${i}`);
      const b = await side(`r${i}`);
      // Both sides punch toward the other's server-observed address at the same time.
      const [atA, atB] = await punchTogether({ ...a, to: b.mapped }, { ...b, to: a.mapped });
      let outcome: Outcome;
      if (atA?.from === b.mapped && atB?.from === a.mapped) {
        outcome = 'direct';
      } else {
        // Answer the source address actually seen, as ICE does with peer-reflexive candidates.
        if (atA) sendTo(a, atA.from, 'answer');
        if (atB) sendTo(b, atB.from, 'answer');
        const [ansA, ansB] = await Promise.all([
          a.p.recv(a.sock, WINDOW_MS, 'answer'),
          b.p.recv(b.sock, WINDOW_MS, 'answer'),
        ]);
        // Connected when each side has heard the other at least once.
        const heardA = atA !== undefined || ansA !== undefined;
        const heardB = atB !== undefined || ansB !== undefined;
        outcome = heardA && heardB ? 'peer-reflexive' : 'fail';
      }
      expect(outcome).toBe(want);
    },
  );
});
