/**
 * The NAT-pair matrix over real kernel NATs (netsim): two natpush peers, each a node process in
 * its own namespace driving a real `PunchConnector` on one real UDP socket; our TURN relay (which
 * also answers STUN Binding) on the lab's internet; and this test process as serve's rendezvous —
 * the REAL `Presence` of the signaling server forwards the `candidates` frames and schedules
 * `punch-start`, over the children's stdio instead of a WebSocket. Asserted per pair: the kind of
 * the path both sides selected (theory as in punch.test.ts: RFC 4787 §4–5, RFC 8445 §7.3.1.3),
 * 50 session datagrams echoed over it (links with 20 ms delay and 1 % loss), and a conntrack witness (NETSIM-NOTES): a direct path is a
 * REPLIED UDP flow between the two NATs' public addresses in the NAT's own conntrack table; a
 * relayed one leaves only unreplied attempts there.
 */
import type { ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, type NatPreset } from '../../netsim/index.js';
import { mintTurnCredentials } from '../../src/relay/credentials.js';
import { Metrics, signalingMetrics } from '../../src/signaling/metrics.js';
import { Presence, type ControlChannel } from '../../src/signaling/presence.js';
import type { ServerMessage } from '../../src/signaling/protocol.js';
import { systemClock } from '../../src/util/clock.js';
import { LAB_RELAY_PORT, spawnLabRelay } from '../support/lab-relay.js';
import { requireBuiltCli } from '../support/natpush-cli.js';
import { NETSIM_REQUIREMENTS, missingPrereq } from '../support/prereq.js';

const skip = missingPrereq('netsim', NETSIM_REQUIREMENTS);
const SECRET = 'netsim-punch-secret';
const DIST = fileURLToPath(new URL('../../dist', import.meta.url));
const PEER = fileURLToPath(new URL('./direct-peer.mjs', import.meta.url));
/** Every NAT's internet link, as in issue 9's matrix: 20 ms each way, 1 % loss each way. */
const WAN = { delayMs: 20, lossPercent: 1 };
/** Session datagrams the initiator sends; each echo crosses up to 4 impaired links (≈ 4 % loss),
 *  so ≥ 40 of 50 back is the bar (binomial tail below 1e-5 per pair). */
const DATAGRAMS = 50;
const MIN_ECHOES = 40;

type Want = 'direct' | 'relay';
type Side = NatPreset | 'cgn';
interface Row {
  a: Side | 'same-nat' | 'same-nat-hairpin';
  b: Side | '';
  want: Want;
}

const CONES: NatPreset[] = ['full-cone', 'restricted-cone', 'port-restricted'];
const ROWS: Row[] = [];
for (const [i, a] of CONES.entries())
  for (const b of CONES.slice(i)) ROWS.push({ a, b, want: 'direct' });
ROWS.push(
  { a: 'symmetric', b: 'full-cone', want: 'direct' },
  { a: 'symmetric', b: 'restricted-cone', want: 'direct' },
  { a: 'symmetric', b: 'port-restricted', want: 'relay' },
  { a: 'symmetric', b: 'symmetric', want: 'relay' },
  { a: 'cgn', b: 'full-cone', want: 'direct' },
  { a: 'cgn', b: 'port-restricted', want: 'direct' },
  { a: 'cgn', b: 'cgn', want: 'direct' },
  { a: 'cgn', b: 'symmetric', want: 'relay' },
  { a: 'same-nat', b: '', want: 'direct' },
  { a: 'same-nat-hairpin', b: '', want: 'direct' },
);

/** NATs and hosts of row i: left host `l{i}`, right host `r{i}`. */
function topology(row: Row, i: number) {
  const nats: {
    name: string;
    preset: NatPreset;
    behind?: string;
    hairpinning?: boolean;
    link?: typeof WAN;
  }[] = [];
  const side = (s: Side, tag: string): string => {
    if (s === 'cgn') {
      // RFC 6888: a CGN maps endpoint-independently; the home router behind it is a stock one.
      nats.push({ name: `cgn${i}${tag}`, preset: 'port-restricted', link: WAN });
      nats.push({ name: `hm${i}${tag}`, preset: 'port-restricted', behind: `cgn${i}${tag}` });
      return `hm${i}${tag}`;
    }
    nats.push({ name: `n${i}${tag}`, preset: s, link: WAN });
    return `n${i}${tag}`;
  };
  if (row.a === 'same-nat' || row.a === 'same-nat-hairpin') {
    nats.push({
      name: `n${i}s`,
      preset: 'port-restricted',
      hairpinning: row.a === 'same-nat-hairpin',
      link: WAN,
    });
    return { nats, left: `n${i}s`, right: `n${i}s` };
  }
  return { nats, left: side(row.a, 'l'), right: side(row.b as Side, 'r') };
}

interface Child {
  child: ChildProcess;
  next(key: string): Promise<Record<string, unknown>>;
}

const table: string[] = [];

describe.skipIf(skip)('direct paths across real NATs (netsim matrix)', () => {
  let lab: Lab;
  let relay: ChildProcess | undefined;
  const presence = new Presence({
    metrics: signalingMetrics(new Metrics()),
    clock: systemClock,
    punchLeadMs: 250,
  });
  const topo = ROWS.map(topology);

  beforeAll(async () => {
    requireBuiltCli();
    lab = await Lab.create({
      nats: topo.flatMap((t) => t.nats),
      hosts: topo.flatMap((t, i) => [
        { name: `l${i}`, behind: t.left },
        { name: `r${i}`, behind: t.right },
      ]),
    });
    relay = spawnLabRelay(lab, SECRET);
    await new Promise<void>((resolve, reject) => {
      const rl = readline.createInterface({ input: relay!.stderr! });
      rl.on('line', (l) => {
        if (/turn relay listening/.test(l)) resolve();
      });
      relay!.once('exit', (code) => reject(new Error(`relay exited ${code}`)));
    });
  }, 60_000);

  afterAll(async () => {
    relay?.kill('SIGTERM');
    await lab?.destroy();
    process.stdout.write(
      [
        'netsim NAT matrix (real kernel NAT; A initiates)',
        'A                | B                | want   | got    | A→B remote  | B→A remote  | echoes | witness        | rtt ms | connect ms',
        ...table,
      ].join('\n') + '\n',
    );
  });

  /** Spawn a peer in `host`'s namespace, wired to `presence` as peer `id`. */
  function peer(host: string, hideHost: boolean): Child {
    const creds = mintTurnCredentials(SECRET, host, 600);
    const server = `${lab.address('server')}:${LAB_RELAY_PORT}`;
    const args = [PEER, DIST, server, creds.username, creds.password, String(creds.expiresAt)];
    args.push(hideHost ? '1' : '0');
    const child = lab.spawn(host, process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    const queue: Record<string, unknown>[] = [];
    const waiters: (() => void)[] = [];
    const channel: ControlChannel = {
      peer: host,
      publicKey: '',
      rttMs: 0,
      control(m: ServerMessage) {
        child.stdin!.write(JSON.stringify({ signal: m }) + '\n');
        return true;
      },
    };
    presence.addChannel(channel);
    // The `allow` frame: serve forwards rendezvous frames only to peers that allow the sender.
    presence.allow(channel, [], true);
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = JSON.parse(line) as Record<string, unknown>;
      const f = m.signal as { type: string; to: string; rid: string } | undefined;
      if (f?.type === 'punch') presence.punch(channel, f.to, f.rid);
      else if (f) {
        const { to, ...rest } = f;
        presence.forward(host, to, { ...rest, from: host } as ServerMessage);
      } else {
        queue.push(m);
        for (const w of waiters.splice(0)) w();
      }
    });
    return {
      child,
      async next(key) {
        for (;;) {
          const i = queue.findIndex((m) => key in m || 'error' in m);
          if (i >= 0) {
            const m = queue.splice(i, 1)[0]!;
            if ('error' in m) throw new Error(`${host}: ${String(m.error)}`);
            return m;
          }
          await new Promise<void>((r) => waiters.push(r));
        }
      },
    };
  }

  /** UDP flows in `nat`'s conntrack table toward `address` that saw a reply. */
  async function repliedFlows(nat: string, address: string): Promise<string[]> {
    const r = await lab.exec(nat, 'conntrack', ['-L', '-p', 'udp']);
    return r.stdout
      .split('\n')
      .filter((l) => l.includes(`dst=${address} `) && !l.includes('[UNREPLIED]'));
  }

  /** The public address a side's flows reach the internet from (the CGN's for a CGN side). */
  function publicOf(nat: string): string {
    const outer = lab.node(nat).behind;
    return lab.address(outer ?? nat);
  }

  it.concurrent.each(ROWS.map((r, i) => [r.a, r.b || r.a, r.want, i] as const))(
    '%s × %s: %s',
    async (a, b, want, i) => {
      const t = topo[i]!;
      const hairpin = a === 'same-nat-hairpin';
      const left = peer(`l${i}`, hairpin);
      const right = peer(`r${i}`, hairpin);
      try {
        await Promise.all([left.next('ready'), right.next('ready')]);
        left.child.stdin!.write(JSON.stringify({ connect: `r${i}` }) + '\n');
        const [pl, pr] = await Promise.all([left.next('path'), right.next('path')]);
        const kl = pl.path as { kind: string; remoteType: string; rttMs: number; ms: number };
        const kr = pr.path as { kind: string; remoteType: string };
        const echoes = (await left.next('echoes')).echoes as number;

        // Witness: a replied flow toward the other side's public address in our NAT.
        let witness = 'n/a (same LAN)';
        if (a !== 'same-nat') {
          const target = hairpin ? lab.address(t.left) : publicOf(t.right);
          const flows = await repliedFlows(t.left, target);
          witness = flows.length > 0 ? 'replied flow' : 'none';
          expect(witness).toBe(want === 'direct' ? 'replied flow' : 'none');
        }
        table.push(
          [
            a.padEnd(16),
            b.padEnd(16),
            want.padEnd(6),
            kl.kind.padEnd(6),
            kl.remoteType.padEnd(11),
            kr.remoteType.padEnd(11),
            String(echoes).padEnd(6),
            witness.padEnd(14),
            String(kl.rttMs).padEnd(6),
            String(kl.ms),
          ].join(' | '),
        );
        expect(kl.kind).toBe(want);
        expect(kr.kind).toBe(want);
        expect(echoes).toBeGreaterThanOrEqual(MIN_ECHOES);
        expect(echoes).toBeLessThanOrEqual(DATAGRAMS);
      } finally {
        for (const p of [left, right]) p.child.stdin!.write(JSON.stringify({ exit: true }) + '\n');
      }
    },
    30_000,
  );
});
