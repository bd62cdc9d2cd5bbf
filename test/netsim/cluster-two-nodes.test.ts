/**
 * Two `natpush serve --redis` nodes on two different internet hosts of a netsim lab, one Redis
 * (a unix socket: network namespaces share the file system), and two natpush `Peer` processes
 * behind real kernel NATs (full cone, port-restricted), each logged in to a different node. The
 * rendezvous crosses nodes over Redis (candidates forwarded on the bus, the punch start timed by
 * the callee's node): 100 notifications each way arrive exactly once, and the last ones travel
 * the direct path. Links: 20 ms delay, 1 % loss, as in the ladder matrix.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../netsim/index.js';
import { startRedis, type TestRedis } from '../../bench/lib/cluster-redis.js';
import {
  exactlyOnce,
  exchange,
  LadderDriver,
  type Msg,
  serveListening,
} from '../support/ladder-driver.js';
import { requireBuiltCli } from '../support/natpush-cli.js';
import { hookMs, teardown } from '../integration/cluster/teardown.js';
import { NETSIM_REQUIREMENTS, missingPrereq } from '../support/prereq.js';

const skip = missingPrereq('netsim', {
  ...NETSIM_REQUIREMENTS,
  commands: { ...NETSIM_REQUIREMENTS.commands, 'redis-server': 'redis-server' },
});
const DRIVER = fileURLToPath(new URL('../support/ladder-peer.mjs', import.meta.url));
const N = 100;
const LINK = { delayMs: 20, lossPercent: 1 };

describe.skipIf(skip)('two serve nodes on different internet hosts (netsim, Redis)', () => {
  let lab: Lab | undefined;
  let redis: TestRedis | undefined;
  let dir = '';
  const servers: ChildProcess[] = [];
  const drivers: LadderDriver[] = [];

  beforeAll(async () => {
    const cli = requireBuiltCli();
    dir = mkdtempSync(join(tmpdir(), 'np-netsim-cluster-'));
    redis = await startRedis();
    lab = await Lab.create({
      nats: [
        { name: 'nfc', preset: 'full-cone', link: LINK },
        { name: 'npr', preset: 'port-restricted', link: LINK },
      ],
      hosts: [
        { name: 'a', behind: 'nfc' },
        { name: 'b', behind: 'npr' },
      ],
      servers: [{ name: 's1' }, { name: 's2' }],
    });
    const urls: string[] = [];
    for (const s of ['s1', 's2']) {
      const child = lab.spawn(
        s,
        process.execPath,
        [
          cli,
          'serve',
          ...['--port', '8787', '--data-dir', join(dir, s), '--log-level', 'warn'],
          ...['--redis', redis.url],
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      servers.push(child);
      await serveListening(child);
      urls.push(`http://${lab.address(s)}:8787`);
    }
    // a signals through s1, b through s2.
    for (const [host, url] of [
      ['a', urls[0]!],
      ['b', urls[1]!],
    ] as const) {
      const child = lab.spawn(host, process.execPath, [DRIVER, url, join(dir, `${host}.pem`)], {
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      const d = new LadderDriver(host, child);
      d.peer = String(((await d.next((m) => 'ready' in m)).ready as Msg).id);
      drivers.push(d);
    }
  }, 120_000);

  // Every step bounded and run whatever the others did (teardown.ts); the lab kills its
  // children (drivers, servers) on destroy too.
  const STEPS = [
    ['serve processes', () => servers.forEach((s) => s.kill('SIGKILL'))],
    ['lab', () => lab?.destroy()],
    ['redis-server', () => redis?.stop()],
    ['temp dir', () => dir && rmSync(dir, { recursive: true, force: true })],
  ] as const;
  afterAll(() => teardown(STEPS, 20_000), hookMs(STEPS.length, 20_000));

  it('peers on different nodes deliver exactly once and reach the direct path', async () => {
    const [a, b] = drivers as [LadderDriver, LadderDriver];
    // Warm-up: the ladder starts server-routed (across the two nodes) and punches behind it.
    const [wa, wb] = await exchange(a, b, N, 'warm');
    expect(wa.errors).toEqual([]);
    expect(wb.errors).toEqual([]);
    await exactlyOnce(b, a, N, 'warma');
    await exactlyOnce(a, b, N, 'warmb');
    // The punch takes a few round trips behind the warm-up (and a failed one is tried again
    // after its backoff, 5 s, then 10 s): wait, bounded, until both sides report direct and
    // quiet for 2 s (not a fixed 2 s per round), then the measured round, retried (each round
    // exactly once) until it leaves on the direct path or the budget is spent.
    let last = ['', ''];
    for (let round = 0; round < 4 && !(last[0] === 'direct' && last[1] === 'direct'); round++) {
      const o = { timeoutMs: 30_000 };
      await Promise.all([a.settled(b.peer, ['direct'], o), b.settled(a.peer, ['direct'], o)]);
      const [sa, sb] = await exchange(a, b, N, `r${round}`);
      expect(sa.errors).toEqual([]);
      expect(sb.errors).toEqual([]);
      const ra = await exactlyOnce(b, a, N, `r${round}a`);
      const rb = await exactlyOnce(a, b, N, `r${round}b`);
      last = [String(ra[ra.length - 1]!.path), String(rb[rb.length - 1]!.path)];
    }
    const paths = `a→b path events ${JSON.stringify(a.paths(b.peer))}, b→a ${JSON.stringify(b.paths(a.peer))}`;
    expect(last, paths).toEqual(['direct', 'direct']);
  }, 300_000);
});
