/**
 * Rung 2 across real kernel NATs: our TURN relay runs on the lab's server (internet side); two
 * peers behind `symmetric` NATs (address-and-port-dependent mapping and filtering: no punched
 * path between them) exchange data through it over UDP, and a peer behind a UDP-blocking firewall
 * does it over TCP. The relay's own counters prove the bytes crossed it.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../netsim/index.js';
import { mintTurnCredentials } from '../../src/relay/credentials.js';
import { LAB_RELAY_PORT, spawnLabRelay } from '../support/lab-relay.js';
import { NETSIM_REQUIREMENTS, missingPrereq } from '../support/prereq.js';

const skip = missingPrereq('netsim', NETSIM_REQUIREMENTS);
const SECRET = 'netsim-turn-secret';
const DIST = fileURLToPath(new URL('../../dist', import.meta.url));
const PEER = fileURLToPath(new URL('../support/turn-peer.mjs', import.meta.url));
const MESSAGES = 200;

interface Lines {
  next(re: RegExp): Promise<Record<string, unknown>>;
}

/** JSON lines from a child's stdout, awaited by pattern, in order. */
function lines(child: ChildProcess): Lines {
  const queue: string[] = [];
  const waiters: (() => void)[] = [];
  readline.createInterface({ input: child.stdout! }).on('line', (l) => {
    queue.push(l);
    for (const w of waiters.splice(0)) w();
  });
  return {
    async next(re) {
      for (;;) {
        const i = queue.findIndex((l) => re.test(l));
        if (i >= 0) return JSON.parse(queue.splice(i, 1)[0]!) as Record<string, unknown>;
        await new Promise<void>((r) => waiters.push(r));
      }
    },
  };
}

describe.skipIf(skip)('TURN relay across real NATs (netsim)', () => {
  let lab: Lab | undefined;
  let relay: ChildProcess | undefined;
  let relayLines: Lines;
  let dir = '';
  let server = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'np-netsim-turn-'));
    lab = await Lab.create({
      nats: [
        { name: 'na', preset: 'symmetric' },
        { name: 'nb', preset: 'symmetric' },
        { name: 'blk', preset: 'port-restricted', udpBlocked: true },
      ],
      hosts: [
        { name: 'a', behind: 'na' },
        { name: 'b', behind: 'nb' },
        { name: 'c', behind: 'blk' },
      ],
    });
    const addr = lab.address('server');
    server = `${addr}:${LAB_RELAY_PORT}`;
    relay = spawnLabRelay(lab, SECRET);
    relayLines = lines({ stdout: relay.stderr } as ChildProcess);
    await relayLines.next(/turn relay listening/);
  }, 60_000);

  afterAll(async () => {
    relay?.kill('SIGTERM');
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function peer(
    host: string,
    transport: 'udp' | 'tcp',
    timeoutMs = 10_000,
  ): { child: ChildProcess; out: Lines } {
    const creds = mintTurnCredentials(SECRET, host, 600);
    const args = [PEER, DIST, server, transport, creds.username, creds.password, String(timeoutMs)];
    const child = lab!.spawn(host, process.execPath, args, {
      stdio: ['pipe', 'pipe', timeoutMs < 10_000 ? 'ignore' : 'inherit'],
    });
    return { child, out: lines(child) };
  }

  async function exchange(x: ReturnType<typeof peer>, y: ReturnType<typeof peer>): Promise<void> {
    const rx = (await x.out.next(/relayed/)).relayed as { address: string; port: number };
    const ry = (await y.out.next(/relayed/)).relayed as { address: string; port: number };
    // Both relayed addresses are the relay's public address: the peers never see each other's.
    expect(rx.address).toBe(lab!.address('server'));
    expect(ry.address).toBe(lab!.address('server'));
    x.child.stdin!.write(JSON.stringify({ peer: ry }) + '\n');
    y.child.stdin!.write(JSON.stringify({ peer: rx }) + '\n');
    await x.out.next(/bound/);
    await y.out.next(/bound/);
    x.child.stdin!.write(JSON.stringify({ go: MESSAGES }) + '\n');
    y.child.stdin!.write(JSON.stringify({ go: MESSAGES }) + '\n');
    const gx = await x.out.next(/received/);
    const gy = await y.out.next(/received/);
    expect(gx.received).toBe(MESSAGES);
    expect(gy.received).toBe(MESSAGES);
    expect(gx.from).toMatchObject({ port: ry.port });
    expect(gy.from).toMatchObject({ port: rx.port });
  }

  async function relayedAtLeast(n: number): Promise<void> {
    for (;;) {
      const c = await relayLines.next(/turn relay counters/);
      if ((c.toPeerPackets as number) >= n && (c.toClientPackets as number) >= n) return;
    }
  }

  it('two peers behind symmetric NATs exchange data through the relay over UDP', async () => {
    await exchange(peer('a', 'udp'), peer('b', 'udp'));
    await relayedAtLeast(2 * MESSAGES);
  });

  it('a peer behind a UDP-blocking firewall relays over TCP to a peer behind a symmetric NAT', async () => {
    // The firewall really blocks UDP: an Allocate over UDP from c never gets an answer.
    const probe = peer('c', 'udp', 1500);
    const died = new Promise<number | null>((r) => probe.child.once('exit', (code) => r(code)));
    expect(await died).not.toBe(0);
    await exchange(peer('c', 'tcp'), peer('a', 'udp'));
    await relayedAtLeast(4 * MESSAGES);
  });
});
