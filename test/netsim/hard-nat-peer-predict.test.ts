/**
 * Issue 11 through `Peer`, the whole product path: real natpush peers (test/support/ladder-peer.mjs,
 * `Peer.connect` with its defaults — port prediction and port mapping on) behind real kernel NATs,
 * all logged in to one `natpush serve` (signaling + STUN + TURN), links 20 ms / 1 % loss.
 * - port-preserving symmetric × port-preserving symmetric: direct on the fresh socket whose
 *   port each side sent as `preservedPort` (hard-NAT result `how: 'preserved port'`);
 * - sequential symmetric × sequential symmetric: direct on a predicted port
 *   (`how: 'predicted port'`);
 * - prediction after the first punch: another host behind one sequential NAT makes 8 mappings
 *   after the measurement, so the first punch's predicted ports are all stale and it ends on the
 *   relay; the prediction layer looks at the counter again (`port allocation refreshed`) and
 *   the peer link's re-punch (5 s later) is direct on a predicted port;
 * - port mapping per protocol: a Peer behind a random-port symmetric NAT running miniupnpd, its
 *   portmap limited to NAT-PMP, then PCP, then UPnP-IGD (`portmap: { protocols }`), reaches a
 *   port-restricted cone direct on the mapped port (that pair is birthday-or-relay without it),
 *   and the mapping is gone from miniupnpd's nft table after the Peer closed. The Peer is
 *   restarted per protocol with the SAME identity: pr still holds a session with the old
 *   process on a direct path that is now dead, and must answer the new one at once (through
 *   serve, then direct again), not after consent's 30 s (the fix of 703081e); the table prints
 *   the restarted Peer's first pong.
 * Each prediction attempt uses fresh Peers (log out, log in: a new identity, punch layer and
 * NAT measurement) and pings until the path is direct. The table is printed at the end; the lab
 * (namespaces, processes, rules) goes in afterAll, also when a test fails.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../netsim/index.js';
import {
  awaitHardNatResult,
  dumpLogs,
  hardNatResults,
  type LadderDriver,
  miniupnpdMissing,
  type Msg,
  pingUntilDirect as pingLine,
  relogin,
  reportDriversOnFailure,
  spawnLadderPeer,
  startLabServe,
} from '../support/ladder-driver.js';
import { NETSIM_REQUIREMENTS, missingPrereq } from '../support/prereq.js';

const skip = missingPrereq('netsim', NETSIM_REQUIREMENTS) ?? miniupnpdMissing();
const LINK = { delayMs: 20, lossPercent: 1 };

const NATS = [
  { name: 'npres1', preset: 'symmetric-preserving' },
  { name: 'npres2', preset: 'symmetric-preserving' },
  { name: 'nseq1', preset: 'symmetric-sequential' },
  { name: 'nseq2', preset: 'symmetric-sequential' },
  { name: 'nup', preset: 'symmetric', miniupnpd: true },
  { name: 'npr', preset: 'port-restricted' },
] as const;
const HOSTS = [
  ['p1', 'npres1'],
  ['p2', 'npres2'],
  ['s1', 'nseq1'],
  ['s2', 'nseq2'],
  // Another host behind s1's NAT: it moves the sequential counter (no Peer of its own).
  ['sx', 'nseq1'],
  ['up', 'nup'],
  ['pr', 'npr'],
] as const;
type Host = (typeof HOSTS)[number][0];
const PEERS: Host[] = ['p1', 'p2', 's1', 's2', 'pr'];

/**
 * Attempts per prediction cell; the test asserts at least one direct by prediction. Per-attempt
 * success measured on this machine at load 17–21 (2 cores), counting only attempts whose
 * hard-NAT result says prediction: preserving 25/25 (since the classifier takes a majority of
 * kept ports), sequential 94/95. At a per-attempt rate p ≥ 0.95, below both, the chance that
 * all K = 5 independent attempts fail is (1 − p)^5 ≤ 3.1e-7 < 1e-6. HARD_NAT_ATTEMPTS=N runs N
 * (a measurement); HARD_NAT_DUMP=1 prints both logs of the first attempt not by prediction.
 */
const ATTEMPTS = Number(process.env.HARD_NAT_ATTEMPTS ?? 5);
/** Pings (one per 100 ms after each pong) before an attempt gives up: ≥ 25 s, two re-punches. */
const PINGS = 250;

describe.skipIf(skip)(
  'port prediction and port mapping through Peer (netsim, 20 ms, 1 % loss)',
  () => {
    let lab: Lab | undefined;
    let dir = '';
    let url = '';
    const drivers = new Map<Host, LadderDriver>();
    const extra = new Set<LadderDriver>();
    const table: string[] = [];
    reportDriversOnFailure(() => [...drivers.values(), ...extra]);

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'np-netsim-predict-'));
      lab = await Lab.create({
        nats: NATS.map((n) => ({ ...n, link: LINK })),
        hosts: HOSTS.map(([name, behind]) => ({ name, behind })),
      });
      url = await startLabServe(lab, join(dir, 'data'));
      await Promise.all(
        PEERS.map(async (host) =>
          drivers.set(host, await spawnLadderPeer(lab!, host, url, join(dir, `${host}.pem`))),
        ),
      );
    }, 180_000);

    afterAll(async () => {
      if (table.length > 0) {
        // eslint-disable-next-line no-console
        console.log(
          `\nprediction and mapping through Peer:\n${table.join('\n')}` +
            `\n  measurements redone (contradicted the preset): ${remeasured.length ? remeasured.join(', ') : 'none'}`,
        );
      }
      for (const d of [...drivers.values(), ...extra]) d.child.kill('SIGKILL');
      await lab?.destroy();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }, 60_000);

    /** The allocation each prediction host's NAT preset has (what `fresh` expects to measure). */
    const EXPECTED_PATTERN: Record<string, string> = {
      p1: 'preserving',
      p2: 'preserving',
      s1: 'sequential',
      s2: 'sequential',
    };
    /** Measurements that contradicted the preset and were redone (`fresh`), for the table. */
    const remeasured: string[] = [];

    /** Both sides log out and in again (fresh Peers) and measure their NAT anew. */
    async function fresh(...ds: LadderDriver[]): Promise<void> {
      const marks = ds.map((d) => d.logs.length);
      const lineMarks = ds.map((d) => d.lines.length);
      await Promise.all(
        ds.map(async (d, i) => {
          let m: Msg | undefined;
          // The measurement's fresh sockets share the NAT's counter with the Peer's other
          // traffic (a punch's checks to new addresses just before, consent to other peers):
          // a sequential NAT then reads as random now and then (seen in a CI run right after
          // the busy cell), and the Peer does not measure again on its own (a known gap, see
          // the closing notes). These cells test what follows a right measurement, so a
          // measurement that contradicts the host's preset is redone by logging in again
          // (at most twice) and counted in the table.
          for (let attempt = 0; ; attempt++) {
            marks[i] = d.logs.length;
            lineMarks[i] = d.lines.length;
            await relogin(d);
            m = await d.next(
              (x) => x.msg === 'port allocation measured' && d.logs.indexOf(x) >= marks[i]!,
              { log: true, timeoutMs: 60_000 },
            );
            const want = EXPECTED_PATTERN[d.host];
            if (want === undefined || m.pattern === want || attempt === 2) break;
            remeasured.push(`${d.host}: ${String(m.pattern)}`);
          }
          let last = m;
          // A preserving symmetric NAT's side: its reserved socket, whose port the offer names.
          const preserving =
            m.pattern === 'preserving' && m.mapping === 'address-and-port-dependent';
          if (preserving) {
            last = await d.next(
              (x) => x.msg === 'port prediction socket reserved' && d.logs.indexOf(x) >= marks[i]!,
              { log: true, timeoutMs: 60_000 },
            );
          }
          // A sequential side: its rate observation, 2 s later (one more mapping, and the
          // window for the other hosts' ones): the punch starts from a settled counter.
          if (m.pattern === 'sequential') {
            last = await d.next(
              (x) => x.msg === 'port allocation rate observed' && d.logs.indexOf(x) >= marks[i]!,
              { log: true, timeoutMs: 60_000 },
            );
          }
          // The facts (and the reserved socket, the predicted ports) join the offer one
          // re-gather later (a STUN round trip, ~40 ms idle, longer loaded): wait for that offer,
          // not a fixed second.
          await d.offered(
            (nat) =>
              nat.allocation !== undefined && (!preserving || nat.preservedPort !== undefined),
            {
              mark: lineMarks[i]!,
              after: last,
              what: `${d.host}'s offer after "${String(last.msg)}"`,
            },
          );
        }),
      );
    }

    /**
     * `a` pings `b` until a pong came back on the direct path; ms to direct, or undefined. With
     * `tolerate`, a ping that got no answer (`pingError`) ends the attempt as not direct instead
     * of failing the test: the prediction cells count attempts against their bound.
     */
    async function pingUntilDirect(
      a: LadderDriver,
      b: LadderDriver,
      tolerate?: { errors: string[] },
    ): Promise<number | undefined> {
      const { end, directMs } = await pingLine(a, b, { count: PINGS });
      if (tolerate && end.pingError !== undefined) {
        if (tolerate.errors.length === 0) dumpLogs(a, b); // the first one, for the reader
        tolerate.errors.push(String(end.pingError));
        return undefined;
      }
      expect(end.pingError).toBeUndefined();
      return directMs;
    }

    /** Another host behind s1's NAT opening a mapping every 250 ms (4/s): a busy shared NAT. */
    function busyNat(): { stop: () => Promise<void> } {
      const child = lab!.spawn(
        'sx',
        process.execPath,
        [
          '-e',
          `const d=require('node:dgram');setInterval(()=>{const s=d.createSocket('udp4');` +
            `s.send(Buffer.from([0]),9,'${lab!.address('server')}',()=>s.close());},250);`,
        ],
        { stdio: 'ignore' },
      );
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      // Stopped and gone before the next cell measures s1's NAT (its mappings move the counter).
      return { stop: () => (child.kill('SIGKILL'), exited) };
    }

    it.each([
      ['p1', 'p2', 'predictable symmetric × the same', ['preserved port'], false],
      ['s1', 's2', 'predictable symmetric × the same', ['predicted port'], false],
      // The preserving side checks from its reserved socket, the sequential one toward it.
      ['p1', 's1', 'preserving × sequential', ['preserved port', 'predicted port'], false],
      // pr probes s1's predicted ports while sx keeps moving the counter: the window widens
      // with the rate s1 observed (prediction-window.ts); s1's own pair to pr may be the one
      // selected ('checks'), its success still the prediction's (this pair is relay without).
      ['s1', 'pr', 'busy sequential × port-restricted', ['predicted port', 'checks'], true],
    ] as const)(
      '%s × %s (%s): direct by port prediction',
      async (ha, hb, _what, hows, busy) => {
        const a = drivers.get(ha)!;
        const b = drivers.get(hb)!;
        const times: number[] = [];
        const tolerate = { errors: [] as string[] };
        /** How the direct attempts that were not by prediction got there (for the table). */
        const other: string[] = [];
        const windows: string[] = [];
        let byPrediction = 0;
        const load = busy ? busyNat() : undefined;
        try {
          for (let i = 0; i < ATTEMPTS; i++) {
            const mark = a.logs.length;
            await fresh(a, b);
            const seen = a.logs.slice(mark).find((m) => m.msg === 'port allocation rate observed');
            if (seen) windows.push(`${String(seen.foreignPerSec)}/s→${String(seen.window)}`);
            const marks = [a.logs.length, b.logs.length];
            const t = await pingUntilDirect(a, b, tolerate);
            // The Peer's log (stderr) may trail its pong (stdout): wait for the direct result.
            if (t !== undefined) await awaitHardNatResult([a, b], marks);
            const [ra, rb] = hardNatResults([a, b], marks);
            const predicted = [...ra!, ...rb!].some(
              (r) =>
                r.path === 'direct' &&
                r.technique === 'prediction' &&
                (hows as readonly string[]).includes(String(r.how)),
            );
            if (t !== undefined) times.push(t);
            if (t !== undefined && predicted) byPrediction++;
            else if (t !== undefined && other.length === 0 && process.env.HARD_NAT_DUMP === '1') {
              dumpLogs(a, b);
              other.push('dumped');
            } else if (t !== undefined)
              other.push(
                [...ra!, ...rb!]
                  .map((r) => `${String(r.technique)}/${String(r.path)}/${String(r.how)}`)
                  .join(','),
              );
          }
        } finally {
          await load?.stop();
        }
        const how = hows.join(' or ');
        times.sort((x, y) => x - y);
        table.push(
          `  ${`${ha} × ${hb}`.padEnd(10)} direct ${times.length}/${ATTEMPTS}, by ${how} ` +
            `${byPrediction}/${ATTEMPTS} (ping errors ${tolerate.errors.length}), time to direct p50 ` +
            `${times.length ? Math.round(times[Math.floor(times.length / 2)]!) : '-'} ms, max ` +
            `${times.length ? Math.round(times[times.length - 1]!) : '-'} ms` +
            (other.length ? `; other direct attempts: ${JSON.stringify(other)}` : '') +
            (windows.length ? `; foreign rate→window ${windows.join(' ')}` : ''),
        );
        if (byPrediction === 0) dumpLogs(a, b);
        expect(byPrediction).toBeGreaterThanOrEqual(1);
      },
      600_000,
    );

    it('sequential × sequential after the counter moved: relay first, then direct by the refreshed prediction', async () => {
      const a = drivers.get('s1')!;
      const b = drivers.get('s2')!;
      await fresh(a, b);
      // 8 mappings on s1's NAT from another host: all 4 predicted ports of s1 are stale.
      const moved = await lab!.exec('sx', process.execPath, [
        '-e',
        `const d=require('node:dgram');(async()=>{for(let i=0;i<8;i++){const s=d.createSocket('udp4');` +
          `await new Promise(r=>s.send(Buffer.from([0]),9,'${lab!.address('server')}',r));s.close();}})()`,
      ]);
      expect(moved.code).toBe(0);
      const marks = [a.logs.length, b.logs.length];
      // A ping lost across the move (1 % loss, a path change) is not what this cell checks:
      // ping again once, and say so in the table.
      const errors: string[] = [];
      let t = await pingUntilDirect(a, b, { errors });
      if (t === undefined && errors.length > 0) t = await pingUntilDirect(a, b, { errors });
      // The re-punch for direct may be either side's (its result is logged there), and a pong
      // that rode in a punch's first checks can say direct before any result: wait for one.
      await awaitHardNatResult([a, b], marks, 30_000);
      const [ra, rb] = hardNatResults([a, b], marks);
      const both = [...ra!, ...rb!];
      const refreshed = a.logs.slice(marks[0]).some((m) => m.msg === 'port allocation refreshed');
      const fmt = (rs: Msg[]): string => JSON.stringify(rs.map((r) => `${r.path}/${r.how}`));
      table.push(
        `  s1 × s2 moved: results s1 ${fmt(ra!)}, s2 ${fmt(rb!)}, ` +
          `direct after ${t === undefined ? '-' : Math.round(t)} ms (ping errors ${errors.length})`,
      );
      const predicted = both.some((r) => r.path === 'direct' && r.how === 'predicted port');
      if (t === undefined || !predicted) dumpLogs(a, b);
      expect(ra![0]).toMatchObject({ technique: 'prediction', path: 'relay' });
      expect(refreshed).toBe(true);
      expect(t).toBeDefined();
      expect(predicted).toBe(true);
    }, 180_000);

    it.each(['natpmp', 'pcp', 'upnp'] as const)(
      'random symmetric + miniupnpd (%s only) × port-restricted: direct on the mapped port; deleted on close',
      async (protocol) => {
        const pr = drivers.get('pr')!;
        // The same identity every time: from the second protocol on, a restarted Peer that pr
        // still has a session with (on a direct path whose mapping was just deleted).
        const up = await spawnLadderPeer(lab!, 'up', url, join(dir, 'up.pem'), {
          LADDER_PEER_OPTIONS: JSON.stringify({ portmap: { protocols: [protocol] } }),
        });
        extra.add(up);
        const granted = await up.logged('port mapping granted', 60_000);
        // Its NAT facts too (they say "port mapping"): without them in the offer neither side
        // runs the hard-NAT step and no result is logged (seen once at load 7).
        await up.logged('port allocation measured', 60_000);
        expect(granted.via).toBe(protocol);
        const port = String(granted.external).split(':')[1]!;
        const rules = async (): Promise<string> =>
          (await lab!.exec('nup', 'nft', ['list', 'table', 'inet', 'miniupnpd'])).stdout;
        expect(await rules()).toContain(`dport ${port} `);
        // The mapped candidate and the facts join the offer from the next gather: wait for it.
        await up.offered((nat) => nat.portMapping === true && nat.allocation !== undefined, {
          what: "up's offer with its port mapping and its NAT facts",
        });
        const marks = [up.logs.length, pr.logs.length];
        const mark = up.lines.length;
        // Before 703081e pr answered a restarted up only after consent dropped its old path
        // (30 s). Now the first pong comes in ~0.3 s in most runs, but in about 4 of 10 runs the
        // first restart (pcp) hits a path disagreement: pr drops the old path ('the remote
        // opened a new session off this path'), then its punch (controlled) selects a RELAY pair
        // while up's (controlling) selects a direct one, and pings get no pong (5 s each) until
        // the paths agree again (seen once at 19.7 s). Reported to the lead (nomination); until
        // it is fixed, lost pings are retried (6 rounds, past consent's 30 s), counted in the
        // table, and the first one prints both Peers' logs.
        const errors: string[] = [];
        let t: number | undefined;
        for (let round = 0; round < 6 && t === undefined; round++) {
          const before = errors.length;
          t = await pingUntilDirect(up, pr, { errors });
          if (t === undefined && errors.length === before) break; // answered, never direct
        }
        if (t !== undefined) await awaitHardNatResult([up, pr], marks);
        const [rup, rpr] = hardNatResults([up, pr], marks);
        const first = up.lines.slice(mark).find((m) => m.pong !== undefined)?.pong as
          Msg | undefined;
        table.push(
          `  up(${protocol}${protocol === 'natpmp' ? ', first contact' : ', restarted'}) × pr ` +
            `first pong ${first ? Math.round(Number(first.sinceStartMs)) : '-'} ms, ` +
            `direct after ${t === undefined ? '-' : Math.round(t)} ms (ping errors ${errors.length}), ` +
            `up: ${JSON.stringify(rup!.map((r) => `${r.path}/${r.how}`))}, ` +
            `pr: ${JSON.stringify(rpr!.map((r) => `${r.path}/${r.how}`))}`,
        );
        // Direct by the mapping step: pr's punch selects up's mapped candidate ('mapped port'),
        // or up's own punch (both may run: up pings, pr answers a dead path's peer) gets there
        // from the mapped socket ('checks'); without the mapping this pair is birthday-or-relay.
        const direct = [...rup!, ...rpr!].filter((r) => r.path === 'direct');
        if (t === undefined || direct.length === 0) dumpLogs(up, pr);
        expect(t).toBeDefined();
        expect(direct.length).toBeGreaterThan(0);
        for (const r of direct) expect(r.technique).toBe('candidates');
        expect(direct.some((r) => r.how === 'mapped port' || r.how === 'checks')).toBe(true);
        up.write({ close: true });
        await up.exited;
        extra.delete(up);
        expect(await rules()).not.toContain(`dport ${port} `);
      },
      300_000,
    );
  },
);
