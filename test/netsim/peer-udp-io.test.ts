/**
 * A Peer on batched UDP (`udpIo: 'mmsg'`, src/net/mmsg-network.ts) through real kernel NATs:
 * real natpush peers (test/support/ladder-peer.mjs, LADDER_PEER_OPTIONS) logged in to one
 * `natpush serve`, links 20 ms / 1 % loss. Everything a Peer does on its UDP sockets, on mmsg:
 * - port-restricted × port-restricted: the punch socket's checks, then the session — direct;
 * - sequential-port symmetric × port-restricted: the port-prediction sockets measure the NAT
 *   and the predicted candidates make it direct;
 * - random-port symmetric × random-port symmetric: the TURN client on the punch socket (its
 *   allocation, permissions, ChannelData) — relay.
 * Each side sends 20 notifications per round, each delivered exactly once. node:dgram (the
 * default) is what hard-nat-peer.test.ts and ladder-matrix.test.ts run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../netsim/index.js';
import {
  dumpLogs,
  exactlyOnce,
  exchange,
  type LadderDriver,
  type Msg,
  reportDriversOnFailure,
  spawnLadderPeer,
  startLabServe,
} from '../support/ladder-driver.js';
import { NETSIM_REQUIREMENTS, missingPrereq } from '../support/prereq.js';
import { mmsgOrSkip } from '../unit/net/mmsg-support.js';

const skip = missingPrereq('netsim', NETSIM_REQUIREMENTS) ?? (mmsgOrSkip() ? undefined : 'mmsg');
const N = 20;
const LINK = { delayMs: 20, lossPercent: 1 };
const OPTIONS = JSON.stringify({ udpIo: 'mmsg' });

type Path = 'direct' | 'relay' | 'server-routed' | 'mailbox';

const NATS = [
  { name: 'npr1', preset: 'port-restricted' },
  { name: 'npr2', preset: 'port-restricted' },
  { name: 'nseq', preset: 'symmetric-sequential' },
  { name: 'nsym1', preset: 'symmetric' },
  { name: 'nsym2', preset: 'symmetric' },
] as const;
const HOSTS = [
  ['pr1', 'npr1'],
  ['pr2', 'npr2'],
  ['seq', 'nseq'],
  ['sym1', 'nsym1'],
  ['sym2', 'nsym2'],
] as const;
type Host = (typeof HOSTS)[number][0];

describe.skipIf(skip)('Peer on udpIo mmsg (netsim, 20 ms, 1 % loss)', () => {
  let lab: Lab | undefined;
  let dir = '';
  const drivers = new Map<Host, LadderDriver>();
  reportDriversOnFailure(() => drivers.values());

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'np-netsim-udpio-'));
    lab = await Lab.create({
      nats: NATS.map((n) => ({ ...n, link: LINK })),
      hosts: HOSTS.map(([name, behind]) => ({ name, behind })),
    });
    const url = await startLabServe(lab, join(dir, 'data'));
    await Promise.all(
      HOSTS.map(async ([host]) =>
        drivers.set(
          host,
          await spawnLadderPeer(lab!, host, url, join(dir, `${host}.pem`), {
            LADDER_PEER_OPTIONS: OPTIONS,
          }),
        ),
      ),
    );
  }, 120_000);

  afterAll(async () => {
    for (const d of drivers.values()) d.child.kill('SIGKILL');
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  /** A warm-up round (the ladder moves up meanwhile), `want` settled, a measured round. */
  async function pair(ha: Host, hb: Host, want: Path): Promise<void> {
    const a = drivers.get(ha)!;
    const b = drivers.get(hb)!;
    const [wa, wb] = await exchange(a, b, N, `w${ha}${hb}`);
    expect(wa.errors).toEqual([]);
    expect(wb.errors).toEqual([]);
    await exactlyOnce(b, a, N, `w${ha}${hb}a`);
    await exactlyOnce(a, b, N, `w${ha}${hb}b`);
    await Promise.all([a.settled(b.peer, [want]), b.settled(a.peer, [want])]);
    const [sa, sb] = await exchange(a, b, N, `${ha}${hb}`);
    expect(sa.errors).toEqual([]);
    expect(sb.errors).toEqual([]);
    const ra = await exactlyOnce(b, a, N, `${ha}${hb}a`);
    const rb = await exactlyOnce(a, b, N, `${ha}${hb}b`);
    const last = (got: Msg[]) => String(got[got.length - 1]!.path);
    if (last(ra) !== want || last(rb) !== want) dumpLogs(a, b);
    const paths = `a→b path events ${JSON.stringify(a.paths(b.peer))}, b→a ${JSON.stringify(b.paths(a.peer))}`;
    expect(last(ra), paths).toBe(want);
    expect(last(rb), paths).toBe(want);
  }

  it('every Peer reads and sends on batched UDP', async () => {
    for (const d of drivers.values()) {
      const m = await d.logged('direct-path UDP I/O');
      expect(m.udpIo, d.host).toBe('mmsg');
    }
  });

  it('port-restricted × port-restricted: direct, exactly once', async () => {
    await pair('pr1', 'pr2', 'direct');
  }, 120_000);

  it('sequential symmetric × port-restricted: the prediction sockets make it direct', async () => {
    const seq = drivers.get('seq')!;
    const m = await seq.logged('port allocation measured');
    expect(m.pattern).toBe('sequential');
    await seq.offered((nat) => nat.allocation === 'sequential', { after: m, what: 'seq facts' });
    await pair('seq', 'pr1', 'direct');
  }, 120_000);

  it('symmetric × symmetric: the TURN client on the punch socket carries it, exactly once', async () => {
    await pair('sym1', 'sym2', 'relay');
  }, 120_000);
});
