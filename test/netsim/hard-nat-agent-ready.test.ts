/**
 * The birthday hard side says "ready" (test/netsim/hard-nat-agent.mjs) once its sockets are
 * bound and each has sent its first probe, and always before its result; birthdayAttempt
 * (bench/lib/hard-nat-lab.ts) starts the easy side on it instead of after a fixed 100 ms, which
 * a loaded machine binding 256 sockets could outlast. Runs the agent on this host (no lab: the
 * easy side is a plain UDP socket on loopback), from dist/ like the netsim tests.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { HardNatAgent } from '../../bench/lib/hard-nat-lab.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function easySocket(): Promise<{ socket: Socket; sources: Set<number> }> {
  const socket = createSocket('udp4');
  const sources = new Set<number>();
  socket.on('message', (_d, from) => sources.add(from.port));
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  cleanup.push(() => new Promise<void>((r) => socket.close(() => r())));
  return { socket, sources };
}

describe('hard-nat-agent: the birthday hard side reports ready', () => {
  it('"ready" names the sockets that sent, comes before "bday", and their probes arrive', async () => {
    const easy = await easySocket();
    const agent = HardNatAgent.spawnHere();
    cleanup.push(() => agent.kill());
    const bdayDone = agent.ask(
      {
        'bday-hard': {
          easy: `127.0.0.1:${easy.socket.address().port}`,
          sockets: 16,
          timeLimitMs: 1_500,
        },
      },
      'bday',
    );
    bdayDone.catch(() => {});
    const ready = await agent.next('ready');
    expect(ready.sockets).toBe(16);
    // Nobody answered: the hard side gives up at its time limit, after "ready".
    expect(await bdayDone).toMatchObject({ ok: false });
    // The probes of every socket left before "ready" and reached the easy side.
    await expect.poll(() => easy.sources.size).toBe(16);
  });
});
