/**
 * `natpush relay --workers 2` (built CLI, `--port 0`):
 *
 * - reuseport mode, on this runtime when it can share the UDP port (Node 20 through the udp_mmsg
 *   addon, `--udp-io mmsg` the default; Node >= 22.12 also through dgram's reusePort, and
 *   scripts/test-node24.sh runs this file under Node 24), else on Node 24: both workers bind the
 *   one port (SO_REUSEPORT); clients from many source ports land on both, allocate without any
 *   redirection and relay to each other across workers; turnutils_uclient (coturn's client,
 *   RTP/RTCP pairs with RESERVATION-TOKEN) relays with no loss; a killed worker is replaced and a
 *   client whose allocation died gets 437 and allocates again; --ip-quota holds for the whole
 *   server, not per worker.
 * - `--workers-mode redirect` directs Allocates with 300 Try Alternate to worker processes on
 *   ports of their own.
 *
 * relay-workers-share.test.ts: who shares the port how on each runtime (TCP included), and the
 * refusal where nothing can.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { runUclient } from '../../../bench/lib/coturn.js';
import { nodeUdpNetwork, type UdpSocket } from '../../../src/net/index.js';
import { TurnClient, isTurnClientError } from '../../../src/relay/index.js';
import { hasReusePort } from '../../../src/server/workers/runtime.js';
import { node24OrSkip } from '../../support/node24.js';
import { missingPrereq } from '../../support/prereq.js';
import {
  pidOfUdpPort,
  startRelayWorkers,
  workerPids,
  type RelayWorkers,
} from '../../support/relay-workers.js';
import { mmsgOrSkip } from '../../unit/net/mmsg-support.js';

// Closed in stages, each all at once: the clients (each close waits up to 2 s for its Refresh 0
// answer: 40 of them one after another could outlast the hook on a loaded machine), then their
// sockets, then the relays (stop() SIGKILLs a relay 20 s after SIGTERM at the latest).
const clients: (() => Promise<unknown>)[] = [];
const sockets: (() => Promise<unknown>)[] = [];
const relays: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const stage of [clients, sockets, relays]) {
    await Promise.allSettled(stage.splice(0).map((c) => c()));
  }
}, 30_000);

// The workers' runtime: this one when it can share the port (the addon on any Node: under
// CI=true a missing addon fails here, never passes on Node 24 instead), else Node 24.
const HERE = hasReusePort() || mmsgOrSkip();
const NODE = HERE ? process.execPath : node24OrSkip();
const RUNTIME = HERE ? process.version : 'Node 24';
const USER = 'w:pw';

async function relay(extra: string[] = [], loopbackPeers = true): Promise<RelayWorkers> {
  const r = await startRelayWorkers(USER, extra, {
    node: NODE!,
    mode: 'reuseport',
    loopbackPeers,
  });
  relays.push(() => r.stop());
  return r;
}

async function socket(): Promise<UdpSocket> {
  const s = await nodeUdpNetwork.bindUdp({ address: '127.0.0.1' });
  sockets.push(() => s.close());
  return s;
}

/** An allocation from its own source port (our socket, so a re-allocation keeps the 5-tuple). */
async function allocate(port: number, s?: UdpSocket): Promise<TurnClient> {
  const c = await TurnClient.allocate({
    server: { address: '127.0.0.1', port },
    username: 'w',
    password: 'pw',
    socket: s ?? (await socket()),
    lifetimeSeconds: 600,
  });
  clients.push(() => c.close());
  return c;
}

/** Until `cond` holds (polling a process table: no fixed sleeps in the assertions). */
async function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!NODE)(`natpush relay --workers 2 (reuseport, ${RUNTIME})`, () => {
  it('serves clients from many source ports on both workers, without redirection, and relays across them', async () => {
    const r = await relay(['--user-quota', '100']);
    const pids = workerPids(r.pid);
    expect(pids).toHaveLength(2);
    // Allocate from new source ports until both workers hold some (the kernel's hash: with 2
    // workers, 40 ports all on one would happen once in 2^39 runs).
    const clients: TurnClient[] = [];
    const holders: (number | undefined)[] = [];
    while (clients.length < 40 && new Set(holders).size < 2) {
      const c = await allocate(r.port);
      clients.push(c);
      holders.push(pidOfUdpPort('127.0.0.1', c.relayedAddress.port));
    }
    // Every allocation answered at the shared port itself (no 300 Try Alternate), and each
    // relayed socket is held by one of the workers.
    for (const c of clients) expect(c.server.port).toBe(r.port);
    for (const h of holders) expect(pids).toContain(h);
    expect(new Set(holders).size).toBe(2);
    // Two clients on different workers relay to each other through channels.
    const a = clients[0]!;
    const b = clients[holders.findIndex((h) => h !== holders[0])]!;
    await a.bindChannel(b.relayedAddress);
    await b.bindChannel(a.relayedAddress);
    const got = new Promise<number[]>((res) => b.onData((d) => res([...d])));
    a.send(b.relayedAddress, Uint8Array.of(1, 2, 3));
    expect(await got).toEqual([1, 2, 3]);
  });

  it('a killed worker is replaced; a client whose allocation died gets 437 and allocates again', async () => {
    const r = await relay();
    const before = workerPids(r.pid);
    const sockets = await Promise.all(Array.from({ length: 8 }, () => socket()));
    const clients = await Promise.all(sockets.map((s) => allocate(r.port, s)));
    const victim = pidOfUdpPort('127.0.0.1', clients[0]!.relayedAddress.port)!;
    const onVictim = clients.filter(
      (c) => pidOfUdpPort('127.0.0.1', c.relayedAddress.port) === victim,
    );
    process.kill(victim, 'SIGKILL');
    await until(() => {
      const now = workerPids(r.pid);
      return now.length === 2 && !now.includes(victim);
    }, 'a replacement worker');
    const after = workerPids(r.pid);
    expect(after.filter((p) => !before.includes(p))).toHaveLength(1);
    // The victim's clients: their allocation is gone; wherever the kernel now puts their 5-tuple,
    // a Refresh gets 437 Allocation Mismatch (RFC 8656 §7.2).
    for (const c of onVictim) {
      const err = await c.refresh(600).catch((e: unknown) => e);
      expect(isTurnClientError(err) && err.status === 437, String(err)).toBe(true);
    }
    // Allocating again from the same source port works (the replacement joined the port).
    const i = clients.indexOf(onVictim[0]!);
    const again = await allocate(r.port, sockets[i]);
    expect(after).toContain(pidOfUdpPort('127.0.0.1', again.relayedAddress.port));
  });

  it('the survivor’s clients keep their allocations when the worker beside them is replaced (handed to their owner)', async () => {
    // Linux keeps a SO_REUSEPORT group's sockets in an array in bind order and picks one by
    // scaling the 5-tuple's hash to its length; a socket that closes is replaced in its slot by
    // the last one. Killing worker 0 of [0, 1] leaves [1]; the replacement joins as [1, R], so
    // every 5-tuple that hashed to slot 1 (worker 1's clients) now reaches R, which does not hold
    // their allocations. Without the hand-off each of them gets 437 here.
    const r = await relay(['--metrics-port', '0', '--user-quota', '100']);
    const pidOf = (worker: number): number | undefined => {
      const line = r.lines.find(
        (l) => l.includes('"worker ready"') && l.includes(`"worker":${worker},`),
      );
      const m = line === undefined ? null : /"pid":(\d+)/.exec(line);
      return m ? Number(m[1]) : undefined;
    };
    await until(() => pidOf(0) !== undefined && pidOf(1) !== undefined, 'both workers');
    const [first, survivor] = [pidOf(0)!, pidOf(1)!];
    // Four clients on the survivor (new source ports until the kernel puts them there; 60 tries
    // with none of 4 there: about once in 2^56 runs).
    const kept: TurnClient[] = [];
    for (let i = 0; i < 60 && kept.length < 4; i++) {
      const c = await allocate(r.port);
      if (pidOfUdpPort('127.0.0.1', c.relayedAddress.port) === survivor) kept.push(c);
    }
    expect(kept).toHaveLength(4);
    const [a, b] = [kept[0]!, kept[1]!];
    await a.bindChannel(b.relayedAddress);
    await b.bindChannel(a.relayedAddress);
    process.kill(first, 'SIGKILL');
    await until(
      () => r.lines.some((l) => l.includes('"worker replaced"')),
      'the replacement worker',
      30_000,
    );
    // Each survivor client's Refresh is answered by the allocation it holds (its owner), wherever
    // the kernel now delivers it.
    for (const c of kept) {
      const err = await c.refresh(600).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, String(err)).toBeUndefined();
    }
    // ChannelData from a re-hashed client still reaches its peer, and a new ChannelBind works.
    const got = new Promise<number[]>((res) => b.onData((d) => res([...d])));
    a.send(b.relayedAddress, Uint8Array.of(4, 5, 6));
    expect(await got).toEqual([4, 5, 6]);
    expect(typeof (await kept[2]!.bindChannel(kept[3]!.relayedAddress))).toBe('number');
    // ...and they did travel by the hand-off (the kernel did re-hash them).
    const url = /"turn relay metrics","url":"([^"]+)"/.exec(r.lines.join('\n'))?.[1];
    const text = await (await fetch(url!)).text();
    const forwarded = Number(/^natpush_relay_forwarded_to_owner_total (\S+)$/m.exec(text)?.[1]);
    expect(forwarded).toBeGreaterThan(0);
  });

  it('a replacement worker gets copies of the other’s existing allocations: its client binds to one', async () => {
    // Without --allow-loopback-peers a relayed address on 127.0.0.1 is an address of ours: a
    // worker allows it as a peer only as a relayed transport address it knows, its own or a copy
    // of a sibling's (peer-access.ts). The replacement gets the copies when it says ready
    // (workers/mirror-cache.ts); before, it had none of the allocations made before it started,
    // and this ChannelBind was refused 403.
    // --user-quota: the loop below may take many allocations (the default quota is 10, which
    // 9 unlucky hashes in a row used up: 486 in CI once).
    const r = await relay(['--user-quota', '100'], false);
    const a = await allocate(r.port);
    const keep = pidOfUdpPort('127.0.0.1', a.relayedAddress.port)!;
    const victim = workerPids(r.pid).find((p) => p !== keep)!;
    expect(victim).toBeGreaterThan(0);
    process.kill(victim, 'SIGKILL');
    // 'worker replaced' is logged once the replacement is ready and its copies are sent.
    await until(
      () => r.lines.some((l) => l.includes('"worker replaced"')),
      'the replacement worker',
      30_000,
    );
    const replacement = workerPids(r.pid).find((p) => p !== keep);
    // A client of the replacement: new source ports until the kernel's hash puts one there (40
    // all on the other worker: once in 2^40 runs). `a` changes nothing from here on, so the
    // replacement knows it only from the copies.
    let c = await allocate(r.port);
    for (
      let i = 0;
      i < 40 && pidOfUdpPort('127.0.0.1', c.relayedAddress.port) !== replacement;
      i++
    ) {
      c = await allocate(r.port);
    }
    expect(pidOfUdpPort('127.0.0.1', c.relayedAddress.port)).toBe(replacement);
    const bound = await c.bindChannel(a.relayedAddress).catch((e: unknown) => e);
    expect(typeof bound, String(bound)).toBe('number');
    // Nothing is asked of `a` itself from here: the SO_REUSEPORT group changed with the
    // replacement, and the kernel may now hash a's own 5-tuple to the new worker (handed to a's
    // worker: the survivor test above), which is not what this test is about.
  });

  it('with --user-bps (no hand-off) a client still binds to another worker’s client on a relay address of ours', async () => {
    // Without --allow-loopback-peers (see the test above): a worker allows another worker's
    // relayed address as a peer only when it holds the copy. Per-user caps turn the hand-off off
    // (the receiver's bucket is in the other worker), but the copies are still needed for this.
    const r = await relay(['--user-bps', '10000000', '--user-quota', '100'], false);
    const a = await allocate(r.port);
    const onA = pidOfUdpPort('127.0.0.1', a.relayedAddress.port);
    let b = await allocate(r.port);
    for (let i = 0; i < 40 && pidOfUdpPort('127.0.0.1', b.relayedAddress.port) === onA; i++) {
      b = await allocate(r.port);
    }
    expect(pidOfUdpPort('127.0.0.1', b.relayedAddress.port)).not.toBe(onA);
    // Right after b's Allocate: b's copy may not have reached a's worker yet (one IPC hop); a's
    // worker then asks the others whose port it is (SiblingExchange.lookup) instead of refusing
    // 403, so one try is enough. Without the copies or the lookup it is 403.
    const bound = await a.bindChannel(b.relayedAddress).catch((e: unknown) => e);
    expect(typeof bound, String(bound)).toBe('number');
    await b.bindChannel(a.relayedAddress);
    let got: number[] | undefined;
    b.onData((d) => (got = [...d]));
    for (let i = 0; i < 50 && got === undefined; i++) {
      a.send(b.relayedAddress, Uint8Array.of(9));
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(got).toEqual([9]);
  });

  it('--ip-quota is whole-server: 3 allocations from 127.0.0.1 in all (not 3 per worker), the rest get 486', async () => {
    const r = await relay(['--ip-quota', '3']);
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, async () => allocate(r.port)),
    );
    const ok = results.filter((x) => x.status === 'fulfilled');
    const refused = results.flatMap((x) => (x.status === 'rejected' ? [x.reason] : []));
    expect(ok).toHaveLength(3);
    for (const e of refused) expect(isTurnClientError(e) && e.status === 486, String(e)).toBe(true);
    // Giving one back makes room again, whichever worker held it. (The holder tells the primary
    // over its own pipe; the next lease may come over the other worker's: allow it a moment —
    // up to 15 s on a loaded machine, polled, so a quick answer ends the wait at once.)
    await (ok[0] as PromiseFulfilledResult<TurnClient>).value.close();
    let again: TurnClient | undefined;
    for (const end = Date.now() + 15_000; !again && Date.now() < end;) {
      again = await allocate(r.port).catch(async (e: unknown) => {
        if (!(isTurnClientError(e) && e.status === 486)) throw e;
        await new Promise((res) => setTimeout(res, 50));
        return undefined;
      });
    }
    expect(again?.relayedAddress.port).toBeGreaterThan(0);
  });

  it('a packet between clients of different workers is handed to its receiver by the sender’s worker', async () => {
    const r = await relay(['--metrics-port', '0']);
    // Two clients on different workers (see the first test).
    const a = await allocate(r.port);
    const onA = pidOfUdpPort('127.0.0.1', a.relayedAddress.port);
    let b = await allocate(r.port);
    while (pidOfUdpPort('127.0.0.1', b.relayedAddress.port) === onA) b = await allocate(r.port);
    await a.bindChannel(b.relayedAddress);
    await b.bindChannel(a.relayedAddress);
    const url = /"turn relay metrics","url":"([^"]+)"/.exec(r.lines.join('\n'))?.[1];
    expect(url).toBeDefined();
    const handoffs = async (): Promise<number> => {
      const text = await (await fetch(url!)).text();
      return Number(/^natpush_relay_sibling_handoffs_total (\S+)$/m.exec(text)?.[1] ?? NaN);
    };
    // Each packet arrives; once b's binding has reached a's worker (one IPC hop through the
    // primary), they go from a's worker straight to b (relay/server/siblings.ts).
    let got = 0;
    b.onData(() => got++);
    let n = 0;
    for (; n < 200 && (await handoffs()) === 0; n++) {
      a.send(b.relayedAddress, Uint8Array.of(n & 0xff));
      await until(() => got > n, `packet ${n} at b`);
    }
    expect(await handoffs()).toBeGreaterThan(0);
    expect(got).toBe(n);
  });

  it('/metrics (--metrics-port) shows the whole server: allocations and bytes summed over both workers', async () => {
    const r = await relay(['--metrics-port', '0', '--user-quota', '100']);
    const clients: TurnClient[] = [];
    for (let i = 0; i < 6; i++) clients.push(await allocate(r.port));
    const [a, b] = [clients[0]!, clients[1]!];
    await a.bindChannel(b.relayedAddress);
    await b.bindChannel(a.relayedAddress);
    const got = new Promise<void>((res) => b.onData(() => res()));
    a.send(b.relayedAddress, new Uint8Array(100));
    await got;
    const url = /"turn relay metrics","url":"([^"]+)"/.exec(r.lines.join('\n'))?.[1];
    expect(url).toBeDefined();
    const text = await (await fetch(url!)).text();
    const value = (name: string): number =>
      Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    expect(value('natpush_relay_allocations')).toBe(6);
    expect(value('natpush_relay_workers')).toBe(2);
    expect(value('natpush_relay_bytes_total{direction="to_peer"}')).toBeGreaterThanOrEqual(100);
    expect(value('natpush_relay_bytes_total{direction="to_client"}')).toBeGreaterThanOrEqual(100);
  });

  it.skipIf(missingPrereq('interop', { commands: { turnutils_uclient: 'coturn' } }))(
    "coturn's turnutils_uclient (RTP/RTCP pairs, RESERVATION-TOKEN) relays with no loss",
    async () => {
      const r = await relay(['--user-quota', '1000']);
      const u = await runUclient(
        [
          '-y',
          '-m',
          '8',
          '-n',
          '50',
          '-l',
          '100',
          '-u',
          'w',
          '-w',
          'pw',
          '-p',
          String(r.port),
          '127.0.0.1',
        ],
        45_000,
      );
      expect(u.sent, u.output.slice(-2000)).toBe(400);
      expect(u.received).toBe(u.sent);
      expect(u.lost).toBe(0);
    },
    // The relay's start, then uclient (2-3 s; 17 s in all under load 18) with its own deadline,
    // which reports uclient's output: below this, so it is never vitest's bare timeout (with the
    // tier's 30 s, the same as uclient's old deadline, it would have been).
    90_000,
  );
});

describe('natpush relay --workers 2 --workers-mode redirect', () => {
  it('--workers-mode redirect: Allocates go round robin to worker processes (300 Try Alternate), data flows', async () => {
    const r = await startRelayWorkers(USER, [], { mode: 'redirect' });
    relays.push(() => r.stop());
    const server = { address: '127.0.0.1', port: r.port };
    const a = await TurnClient.allocate({
      server,
      username: 'w',
      password: 'pw',
      net: nodeUdpNetwork,
    });
    clients.push(() => a.close());
    const b = await TurnClient.allocate({
      server,
      username: 'w',
      password: 'pw',
      transport: 'tcp',
    });
    clients.push(() => b.close());
    expect(a.server.port).not.toBe(r.port);
    expect(b.server.port).not.toBe(r.port);
    expect(a.server.port).not.toBe(b.server.port);
    await a.bindChannel(b.relayedAddress);
    await b.bindChannel(a.relayedAddress);
    const got = new Promise<number[]>((res) => b.onData((d) => res([...d])));
    a.send(b.relayedAddress, Uint8Array.of(1, 2, 3));
    expect(await got).toEqual([1, 2, 3]);
  });
});
