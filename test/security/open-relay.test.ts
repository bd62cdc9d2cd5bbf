/**
 * Issue 8, finding 3: the default `natpush serve` was an open relay. Registration is open, so any
 * new key pair got TURN credentials and could CreatePermission toward any public address (and
 * relay to it with unlimited bandwidth). Now serve's relay relays only between natpush peers: a
 * permission is granted only toward an address the server itself has seen for a peer the
 * requester is in rendezvous with (src/signaling/rendezvous.ts), everything else gets 403; and
 * serve refuses to start an ungated relay on a public address with open registration.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  allocate,
  peerWithCredentials,
  rendezvous,
  spawnNatpush,
  startServe,
  type Closer,
} from './serve-fixture.js';

const closers: Closer[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

function received(t: { onData(cb: (d: Uint8Array) => void): unknown }, n: number) {
  const got: string[] = [];
  return new Promise<string[]>((resolve) =>
    t.onData((d) => {
      got.push(Buffer.from(d).toString());
      if (got.length === n) resolve(got);
    }),
  );
}

describe('serve’s relay is not an open relay (finding 3)', () => {
  it('a fresh key pair gets credentials but no permission toward internet hosts or strangers', async () => {
    const s = await startServe(closers);
    const mallory = await peerWithCredentials(closers, s.url);
    const alice = await peerWithCredentials(closers, s.url);
    const tm = await allocate(closers, mallory.creds, 'udp');
    const tmTcp = await allocate(closers, mallory.creds, 'tcp');
    const ta = await allocate(closers, alice.creds, 'udp');
    // The attack of the issue: a permission toward 8.8.8.8 (and any other public host).
    // Only permissions are asked for: no datagram leaves this machine, whatever the verdict.
    for (const t of [tm, tmTcp]) {
      await expect(t.createPermission('8.8.8.8')).rejects.toMatchObject({ status: 403 });
      await expect(t.createPermission('203.0.113.7')).rejects.toMatchObject({ status: 403 });
      await expect(t.bindChannel({ address: '8.8.8.8', port: 53 })).rejects.toMatchObject({
        status: 403,
      });
    }
    // A natpush peer it never met through the server: its relayed address is refused too.
    await expect(tm.bindChannel(ta.relayedAddress)).rejects.toMatchObject({ status: 403 });
    await expect(tm.createPermission(ta.relayedAddress.address)).rejects.toMatchObject({
      status: 403,
    });
    expect(await s.metrics()).toMatch(/^natpush_turn_peer_gate_refused (\d+)$/m);
  });

  it('two peers in rendezvous relay to each other, and a third still cannot join', async () => {
    const s = await startServe(closers);
    const alice = await peerWithCredentials(closers, s.url);
    const bob = await peerWithCredentials(closers, s.url);
    const mallory = await peerWithCredentials(closers, s.url);
    const ta = await allocate(closers, alice.creds, 'udp');
    const tb = await allocate(closers, bob.creds, 'tcp');
    const tm = await allocate(closers, mallory.creds, 'udp');
    // Before any rendezvous: refused both ways.
    await expect(ta.bindChannel(tb.relayedAddress)).rejects.toMatchObject({ status: 403 });
    await rendezvous(alice, bob);
    await ta.bindChannel(tb.relayedAddress);
    await tb.bindChannel(ta.relayedAddress);
    const atB = received(tb, 3);
    const atA = received(ta, 3);
    for (const i of [1, 2, 3]) {
      ta.send(tb.relayedAddress, Buffer.from(`a→b ${i}`));
      tb.send(ta.relayedAddress, Buffer.from(`b→a ${i}`));
    }
    expect((await atB).sort()).toEqual(['a→b 1', 'a→b 2', 'a→b 3']);
    expect((await atA).sort()).toEqual(['b→a 1', 'b→a 2', 'b→a 3']);
    // Mallory is in rendezvous with nobody: still 403 toward either of them, and toward 8.8.8.8.
    await expect(tm.bindChannel(ta.relayedAddress)).rejects.toMatchObject({ status: 403 });
    await expect(tm.createPermission('8.8.8.8')).rejects.toMatchObject({ status: 403 });
    // Being in rendezvous with alice does not open the internet either.
    await expect(ta.createPermission('8.8.8.8')).rejects.toMatchObject({ status: 403 });
  });

  it('one key pair cannot hold the relay: per-user allocation cap (486)', async () => {
    const s = await startServe(closers);
    const mallory = await peerWithCredentials(closers, s.url);
    let held = 0;
    let refused: unknown;
    for (let i = 0; i < 20 && refused === undefined; i++) {
      try {
        await allocate(closers, mallory.creds, 'udp');
        held++;
      } catch (err) {
        refused = err;
      }
    }
    expect(refused).toMatchObject({ status: 486 });
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThanOrEqual(4);
  });

  it('refuses to start an ungated relay on a public address with open registration', async () => {
    const p = spawnNatpush([
      'serve',
      '--host=0.0.0.0',
      '--port=0',
      '--relay-port=0',
      '--stun-port=0',
      '--store=memory',
      '--data-dir=/nonexistent/natpush-never-created',
      '--no-relay-peer-gate',
    ]);
    closers.push(() => p.kill());
    const code = await p.exited;
    expect(code).toBe(1);
    expect(p.err()).toMatch(/NATPUSH_ERR_OPEN_RELAY/);
    expect(p.out()).not.toMatch(/listening/);
  });
});
