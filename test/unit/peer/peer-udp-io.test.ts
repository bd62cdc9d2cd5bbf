/**
 * A Peer's UDP socket on each real UDP I/O (`PeerOptions.udpIo`): batched (recvmmsg/sendmmsg,
 * src/net/mmsg-network.ts) and node:dgram. Two Peers on loopback against serve composed in this
 * process (createServe, its own STUN and relay on node:dgram so that every batched socket here is
 * a Peer's): the punch reaches a direct path, notifications both ways arrive exactly once over
 * it, the path's session datagrams are read and sent by the sockets of the I/O asked for, and
 * closing the Peers closes every socket they opened. Real sockets, port 0.
 */
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMmsgUdpNetwork } from '../../../src/net/mmsg-network.js';
import { MmsgSocket } from '../../../src/net/mmsg-socket.js';
import { Peer, type ReceivedNotification } from '../../../src/peer/peer.js';
import { createServe } from '../../../src/server/create-serve.js';
import { generateIdentity } from '../../../src/signaling/identity.js';
import { silentLogger } from '../../../src/util/logger.js';
import { mmsgOrSkip } from '../net/mmsg-support.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const f of cleanups.splice(0).reverse()) await f();
});

const MMSG = mmsgOrSkip();
const ios = MMSG ? (['mmsg', 'dgram'] as const) : (['dgram'] as const);
/** Generous: a punch and a burst on a loaded 2-core machine. */
const POLL = { timeout: 30_000, interval: 50 };

async function startServe(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'np-peer-udp-io-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const s = await createServe(
    {
      host: '127.0.0.1',
      port: 0,
      'data-dir': dir,
      store: 'memory',
      'stun-port': 0,
      'relay-port': 0,
      'stun-udp-io': 'dgram',
      'relay-udp-io': 'dgram',
    },
    { logger: silentLogger, env: {}, warn: () => {} },
  );
  cleanups.push(() => s.close());
  return s.services.find((x) => x.name === 'signaling')!.endpoints[0]!;
}

function collect(p: Peer): ReceivedNotification[] {
  const got: ReceivedNotification[] = [];
  const stop = new AbortController();
  cleanups.push(() => stop.abort());
  void (async () => {
    for await (const n of p.notifications({ signal: stop.signal })) got.push(n);
  })();
  return got;
}

describe.each(ios)('Peer on udpIo %s (loopback, serve in process)', (udpIo) => {
  it('punches a direct path and carries notifications both ways on sockets of that I/O; close closes them', async () => {
    const url = await startServe();
    // Every batched socket opened from here on (serve's are node:dgram): the Peers'.
    const opened: MmsgSocket[] = [];
    const open = MmsgSocket.open.bind(MmsgSocket);
    vi.spyOn(MmsgSocket, 'open').mockImplementation((o, onBatch) => {
      const s = open(o, onBatch);
      opened.push(s);
      return s;
    });
    const ia = generateIdentity();
    const ib = generateIdentity();
    const mk = async (me: typeof ia, other: typeof ia) => {
      const p = await Peer.connect({
        server: url,
        identity: me,
        allow: [other.peerId],
        interfaces: () => ['127.0.0.1'],
        portmap: false,
        udpIo,
      });
      cleanups.push(() => p.close());
      return p;
    };
    const a = await mk(ia, ib);
    const b = await mk(ib, ia);
    const gotA = collect(a);
    const gotB = collect(b);

    // First contact goes through the server; the session then moves up to the direct path.
    await a.notify(b.id, 'hello');
    await expect
      .poll(() => [a.sessionPath(b.id), b.sessionPath(a.id)], POLL)
      .toEqual(['direct', 'direct']);

    const N = 200;
    const send = (from: Peer, to: Peer, tag: string) =>
      Promise.all(Array.from({ length: N }, (_, i) => from.notify(to.id, `${tag}${i}`)));
    const [ra, rb] = await Promise.all([send(a, b, 'a'), send(b, a, 'b')]);
    expect([...ra, ...rb].every((r) => r.status === 'delivered')).toBe(true);
    expect(ra.filter((r) => r.path === 'direct').length).toBeGreaterThan(N / 2);
    expect(rb.filter((r) => r.path === 'direct').length).toBeGreaterThan(N / 2);
    await expect.poll(() => [gotA.length, gotB.length], POLL).toEqual([N, N + 1]);
    const bodies = (got: ReceivedNotification[], tag: string) =>
      got
        .map((n) => n.body)
        .filter((x) => x.startsWith(tag))
        .sort();
    const want = (tag: string) => Array.from({ length: N }, (_, i) => `${tag}${i}`).sort();
    expect(bodies(gotB, 'a')).toEqual(want('a'));
    expect(bodies(gotA, 'b')).toEqual(want('b'));
    expect(gotB.filter((n) => n.path === 'direct').length).toBeGreaterThan(N / 2);

    if (udpIo === 'mmsg') {
      // The direct path's datagrams went through batched sockets: both ways, most of them.
      const received = opened.reduce((n, s) => n + s.stats.received, 0);
      const sent = opened.reduce((n, s) => n + s.stats.sent, 0);
      expect(opened.length).toBeGreaterThanOrEqual(2);
      // 2 × 200 notifications coalesce into datagrams of up to 1,200 bytes: at least ~10.
      expect(received).toBeGreaterThanOrEqual(10);
      expect(sent).toBeGreaterThanOrEqual(10);
      expect(opened.reduce((n, s) => n + s.stats.sendErrors, 0)).toBe(0);
    } else {
      expect(opened).toEqual([]);
    }

    await Promise.all([a.close(), b.close()]);
    // Every socket the Peer opened is closed when close() resolves, the port-prediction
    // probe's too (close() aborts a measurement under way: allocation-probe.ts `signal`).
    expect(opened.filter((s) => !s.closed).length).toBe(0);
  });
});

describe.runIf(MMSG)('the batched network a Peer uses', () => {
  it('sends to a host name as node:dgram does (a turn: URL may name the relay)', async () => {
    const rx = dgram.createSocket('udp4');
    cleanups.push(() => new Promise<void>((r) => rx.close(() => r())));
    const got: string[] = [];
    rx.on('message', (m) => got.push(m.toString()));
    await new Promise<void>((r) => rx.bind(0, '127.0.0.1', () => r()));
    const socket = await createMmsgUdpNetwork().bindUdp({ port: 0 });
    cleanups.push(() => socket.close());
    const errors: Error[] = [];
    socket.onError((e) => errors.push(e));
    socket.send(new TextEncoder().encode('by name'), {
      address: 'localhost',
      port: rx.address().port,
    });
    socket.send(new TextEncoder().encode('by address'), {
      address: '127.0.0.1',
      port: rx.address().port,
    });
    await expect.poll(() => got.sort(), POLL).toEqual(['by address', 'by name']);
    expect(errors).toEqual([]);
    // Misuse still throws at once, as on node:dgram.
    expect(() => socket.send(new Uint8Array(1), { address: 'localhost', port: 70_000 })).toThrow(
      RangeError,
    );
  });
});
