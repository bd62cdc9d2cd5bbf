/**
 * `natpush relay --workers 2` (reuseport mode, the default): how the workers share the one port on
 * each runtime (issue 10).
 *
 * - UDP: each worker binds the port itself with SO_REUSEPORT, set by the udp_mmsg addon with
 *   `--udp-io mmsg` (the default) on any Node, Node 20 included, or by dgram's reusePort with
 *   `--udp-io dgram` on Node >= 22.12. Both workers hold a socket on the port.
 * - TCP: node:cluster's listener in the primary hands connections to the workers round robin, on
 *   every Node version: TCP clients land on both workers and relay with UDP clients.
 * - Where nothing can set SO_REUSEPORT (`--udp-io dgram` on Node 20) the relay refuses at once:
 *   exit 2, NATPUSH_ERR_WORKERS_UNSUPPORTED, naming what works instead; never a half server.
 *
 * The workers run on this process's Node (scripts/test-node24.sh runs this file under Node 24;
 * the Node 24 cases from the Node 20 tier use .cache/node24).
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeUdpNetwork } from '../../../src/net/index.js';
import { TurnClient } from '../../../src/relay/index.js';
import { hasReusePort, udpPortShareUnavailable } from '../../../src/server/workers/runtime.js';
import { requireBuiltCli } from '../../support/natpush-cli.js';
import { node24OrSkip } from '../../support/node24.js';
import {
  pidOfUdpPort,
  startRelayWorkers,
  workerPids,
  type RelayWorkers,
} from '../../support/relay-workers.js';
import { mmsgOrSkip } from '../../unit/net/mmsg-support.js';

const cleanup: (() => Promise<unknown>)[][] = [[], []];
const [clients, relays] = cleanup as [(() => Promise<unknown>)[], (() => Promise<unknown>)[]];
afterEach(async () => {
  for (const stage of cleanup) await Promise.allSettled(stage.splice(0).map((c) => c()));
}, 30_000);

const USER = 'w:pw';
const MMSG = mmsgOrSkip();
const REUSEPORT_NODE = hasReusePort() ? process.execPath : node24OrSkip();

async function relay(node: string, io: 'mmsg' | 'dgram'): Promise<RelayWorkers> {
  const r = await startRelayWorkers(USER, ['--udp-io', io, '--user-quota', '100'], {
    node,
    mode: 'reuseport',
  });
  relays.push(() => r.stop());
  return r;
}

/** The processes holding a UDP socket on 127.0.0.1:port (iproute2's ss), one entry per socket. */
function udpHolders(port: number): number[] {
  const out = execFileSync('ss', ['-Huanp', `sport = :${port}`], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.includes(`127.0.0.1:${port} `))
    .map((l) => Number(/pid=(\d+)/.exec(l)?.[1]));
}

async function allocate(port: number, transport: 'udp' | 'tcp'): Promise<TurnClient> {
  const c = await TurnClient.allocate({
    server: { address: '127.0.0.1', port },
    username: 'w',
    password: 'pw',
    transport,
    ...(transport === 'udp' ? { net: nodeUdpNetwork } : {}),
    lifetimeSeconds: 600,
  });
  clients.push(() => c.close());
  return c;
}

/** Clients of `transport` until both workers hold one (at most 40: all on one worker by chance
 *  would take 2^39 runs over UDP; TCP alternates), each worker's first. */
async function onBothWorkers(r: RelayWorkers, transport: 'udp' | 'tcp'): Promise<TurnClient[]> {
  const pids = workerPids(r.pid);
  const first = new Map<number | undefined, TurnClient>();
  for (let i = 0; i < 40 && first.size < 2; i++) {
    const c = await allocate(r.port, transport);
    const holder = pidOfUdpPort('127.0.0.1', c.relayedAddress.port);
    expect(pids).toContain(holder);
    if (!first.has(holder)) first.set(holder, c);
  }
  expect(first.size).toBe(2);
  return [...first.values()];
}

/** a → b and b → a through channels, one datagram each way. */
async function relays2Ways(a: TurnClient, b: TurnClient): Promise<void> {
  await a.bindChannel(b.relayedAddress);
  await b.bindChannel(a.relayedAddress);
  const atB = new Promise<number[]>((res) => b.onData((d) => res([...d])));
  a.send(b.relayedAddress, Uint8Array.of(1, 2, 3));
  expect(await atB).toEqual([1, 2, 3]);
  const atA = new Promise<number[]>((res) => a.onData((d) => res([...d])));
  b.send(a.relayedAddress, Uint8Array.of(4, 5));
  expect(await atA).toEqual([4, 5]);
}

const cases = [
  // The addon: on whatever Node runs the tests (Node 20 by default).
  ...(MMSG ? [{ name: process.version, node: process.execPath, io: 'mmsg' as const }] : []),
  // dgram's reusePort: Node >= 22.12 only.
  ...(REUSEPORT_NODE
    ? [{ name: 'Node >= 22.12', node: REUSEPORT_NODE, io: 'dgram' as const }]
    : []),
];

describe.each(cases)('natpush relay --workers 2 --udp-io $io on $name', ({ node, io }) => {
  it('both workers hold a socket on the one UDP port; UDP clients land on both and relay across them', async () => {
    const r = await relay(node, io);
    const pids = workerPids(r.pid);
    expect(pids).toHaveLength(2);
    expect(udpHolders(r.port).sort()).toEqual([...pids].sort());
    const [a, b] = await onBothWorkers(r, 'udp');
    // Answered at the shared port itself: no 300 Try Alternate.
    expect([a!.server.port, b!.server.port]).toEqual([r.port, r.port]);
    await relays2Ways(a!, b!);
  });

  it('TCP: connections are handed to both workers (node:cluster) and relay with UDP clients', async () => {
    const r = await relay(node, io);
    const [t0, t1] = await onBothWorkers(r, 'tcp');
    expect([t0!.server.port, t1!.server.port]).toEqual([r.port, r.port]);
    const u = await allocate(r.port, 'udp');
    const onU = pidOfUdpPort('127.0.0.1', u.relayedAddress.port);
    // One TCP client on the UDP client's worker, one on the other: both relay with it.
    for (const t of [t0!, t1!]) await relays2Ways(t, u);
    expect(
      [t0!, t1!].map((t) => pidOfUdpPort('127.0.0.1', t.relayedAddress.port) === onU).sort(),
    ).toEqual([false, true]);
  });
});

describe.skipIf(hasReusePort())(`natpush relay --workers 2 on ${process.version}`, () => {
  it('--udp-io dgram (no SO_REUSEPORT on this Node): exit 2, NATPUSH_ERR_WORKERS_UNSUPPORTED, naming what works', async () => {
    const err = await promisify(execFile)(
      process.execPath,
      [
        requireBuiltCli(),
        'relay',
        '--workers',
        '2',
        '--udp-io',
        'dgram',
        '--port',
        '0',
        '--listen',
        '127.0.0.1',
      ],
      { env: { ...process.env, NATPUSH_TURN_USERS: USER } },
    ).catch((e: { code: number; stderr: string }) => e);
    expect(err).toMatchObject({ code: 2 });
    const stderr = (err as { stderr: string }).stderr;
    expect(stderr).toMatch(/NATPUSH_ERR_WORKERS_UNSUPPORTED: .*--udp-io dgram leaves out/);
    expect(stderr).toMatch(/Use --udp-io mmsg .*Node >= 22\.12.*--workers-mode redirect/);
    // Refused before any worker started: nothing was forked, nothing listens.
    expect(stderr).not.toMatch(/worker ready/);
  });
});

describe('udpPortShareUnavailable: who can set SO_REUSEPORT', () => {
  it.each([
    ['mmsg', { reusePort: false, mmsgUnavailable: undefined }, undefined],
    ['dgram', { reusePort: false, mmsgUnavailable: undefined }, /--udp-io dgram leaves out/],
    ['mmsg', { reusePort: false, mmsgUnavailable: 'not built' }, /does not load: not built/],
    ['dgram', { reusePort: true, mmsgUnavailable: 'not built' }, undefined],
    ['mmsg', { reusePort: true, mmsgUnavailable: 'not built' }, undefined],
  ] as const)('--udp-io %s, %o: %s', (io, runtime, want) => {
    const why = udpPortShareUnavailable(io, runtime);
    if (want === undefined) expect(why).toBeUndefined();
    else expect(why).toMatch(want);
  });
});
