/**
 * A punched path across real kernel NATs when the NAT forgets it (netsim): `conntrack -F` in the
 * NAT routers mid-session.
 * - port-restricted × port-restricted: the cone presets give an internal endpoint the same public
 *   port again, and each side's consent check (RFC 7675, every ~5 s) re-creates its mapping, so
 *   the same path carries datagrams again — no re-punch needed.
 * - symmetric × full-cone: the symmetric NAT picks a new random port for the next packet; the
 *   cone side sees authenticated consent checks from a new source, checks it, and raises the
 *   re-punch hook with the new address; a second punch gives a direct path again.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../netsim/index.js';
import { requireBuiltCli } from '../support/natpush-cli.js';
import { NETSIM_REQUIREMENTS, missingPrereq } from '../support/prereq.js';
import { Rendezvous, repliedFlows, startLabRelay, type PeerProcess } from './direct-harness.js';

const skip = missingPrereq('netsim', NETSIM_REQUIREMENTS);

interface PathLine {
  kind: string;
  remote: { address: string; port: number };
}

describe.skipIf(skip)('direct paths when the NAT forgets them (netsim)', () => {
  let lab: Lab;
  let relay: ChildProcess | undefined;
  let hub: Rendezvous;
  const peers: PeerProcess[] = [];

  beforeAll(async () => {
    requireBuiltCli();
    lab = await Lab.create({
      nats: [
        { name: 'pa', preset: 'port-restricted' },
        { name: 'pb', preset: 'port-restricted' },
        { name: 'sa', preset: 'symmetric' },
        { name: 'fb', preset: 'full-cone' },
      ],
      hosts: [
        { name: 'a0', behind: 'pa' },
        { name: 'b0', behind: 'pb' },
        { name: 'a1', behind: 'sa' },
        { name: 'b1', behind: 'fb' },
      ],
    });
    relay = await startLabRelay(lab);
    hub = new Rendezvous(lab);
  }, 60_000);

  afterAll(async () => {
    for (const p of peers) p.send({ exit: true });
    relay?.kill('SIGTERM');
    await lab?.destroy();
  });

  async function pair(a: string, b: string): Promise<[PeerProcess, PeerProcess]> {
    const left = hub.peer(a);
    const right = hub.peer(b);
    peers.push(left, right);
    await Promise.all([left.next('ready'), right.next('ready')]);
    return [left, right];
  }

  async function flush(nat: string): Promise<void> {
    const r = await lab.exec(nat, 'conntrack', ['-F']);
    expect(r.code).toBe(0);
  }

  it.concurrent(
    'port-restricted × port-restricted: the same path works again after a flush',
    async () => {
      const [left, right] = await pair('a0', 'b0');
      left.send({ connect: 'b0' });
      const before = (await left.next('path')).path as PathLine;
      await right.next('path');
      expect(before.kind).toBe('direct');
      expect((await left.next('echoes')).echoes).toBe(50);

      await Promise.all([flush('pa'), flush('pb')]);
      // Each side's next consent check (≤ 6 s: 5 s × 1.2) re-creates its mapping; wait until both
      // NATs hold a replied flow toward each other again (bounded: a few consent intervals).
      const end = Date.now() + 30_000;
      for (;;) {
        const [x, y] = await Promise.all([
          repliedFlows(lab, 'pa', lab.address('pb')),
          repliedFlows(lab, 'pb', lab.address('pa')),
        ]);
        if (x.length > 0 && y.length > 0) break;
        if (Date.now() > end)
          throw new Error(
            `no replied flow again 30 s after the flush: pa ${x.length}, pb ${y.length}`,
          );
        await new Promise((r) => setTimeout(r, 200));
      }
      left.send({ burst: 50, tag: 2 });
      expect((await left.next('echoes')).echoes).toBe(50);
    },
    // Bounded waits inside; the peers start, punch and echo on a loaded machine.
    90_000,
  );

  it.concurrent(
    'symmetric × full-cone: the cone side sees the new mapping and a re-punch is direct',
    async () => {
      const [left, right] = await pair('a1', 'b1');
      left.send({ connect: 'b1' });
      await left.next('path');
      const seenByB = (await right.next('path')).path as PathLine;
      expect(seenByB.kind).toBe('direct');
      expect(seenByB.remote.address).toBe(lab.address('sa'));
      await left.next('echoes');

      await flush('sa');
      const moved = (await right.next('moved')).moved as { address: string; port: number };
      expect(moved.address).toBe(lab.address('sa'));
      expect(moved.port).not.toBe(seenByB.remote.port);

      // What the ladder does on the hook: punch again.
      left.send({ connect: 'b1' });
      const again = (await left.next('path')).path as PathLine;
      expect(again.kind).toBe('direct');
      expect((await left.next('echoes')).echoes).toBe(50);
    },
    90_000,
  );
});
