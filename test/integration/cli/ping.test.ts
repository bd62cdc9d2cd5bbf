/**
 * `natpush ping` against a real `natpush serve` and a real `natpush listen`, like `tailscale
 * ping`: pongs with their path and round trip, the first through the server, later over a direct
 * UDP path (loopback); and a peer that does not allow the pinger gives no pong and exit 5.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../../src/cli/errors.js';
import { loadOrCreateIdentity } from '../../../src/peer/identity-file.js';
import { runNatpush, serve, type NatpushProcess } from '../signaling/natpush-process.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'np-ping-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function track(p: NatpushProcess): NatpushProcess {
  cleanups.push(() => p.kill());
  return p;
}

async function online(url: string, n: number): Promise<void> {
  await expect
    .poll(
      async () => ((await (await fetch(`${url}/healthz`)).json()) as { online: number }).online,
      { timeout: 20_000, interval: 100 },
    )
    .toBe(n);
}

/** serve, and `natpush listen` as b (with `listenArgs`) online on it; `ping` runs a's ping of b. */
async function listening(listenArgs: string[]) {
  const dir = tmp();
  const s = await serve(join(dir, 'data'));
  track(s.p);
  const bPath = join(dir, 'b.pem');
  const b = loadOrCreateIdentity(bPath).identity;
  track(runNatpush(['listen', '--identity', bPath, '--server', s.url, ...listenArgs]));
  await online(s.url, 1);
  const ping = (args: string[]): NatpushProcess =>
    track(
      runNatpush(['ping', b.peerId, ...args, '--identity', join(dir, 'a.pem'), '--server', s.url]),
    );
  return { b, ping };
}

describe('natpush ping', () => {
  it('pongs through the server until the path is direct', async () => {
    const listener = await listening(['--allow', 'anyone']);
    const ping = listener.ping(['--json', '--count', '40', '--interval', '250']);
    const { code } = await ping.exited;
    const events = ping
      .out()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { event: string; path?: string; rttMs?: number });
    const pongs = events.filter((e) => e.event === 'pong');
    expect(code, ping.out()).toBe(EXIT.OK);
    // Server-routed pongs (if any: on loopback the punch, answered at once with the listener's
    // offer, may beat the first ping's Noise handshake) come before the direct one, never after.
    const paths = pongs.map((p) => p.path);
    expect(paths.at(-1)).toBe('direct'); // --until-direct stops at the first direct pong
    expect(paths.slice(0, -1).every((p) => p === 'server-routed')).toBe(true);
    expect(pongs.every((p) => typeof p.rttMs === 'number' && p.rttMs >= 0)).toBe(true);
    expect(events.some((e) => e.event === 'punch')).toBe(true);
  }, 60_000);

  it('text mode reads like tailscale ping', async () => {
    const { b, ping: pingB } = await listening(['--allow', 'anyone']);
    const ping = pingB(['--count', '2', '--interval', '100', '--no-until-direct']);
    expect((await ping.exited).code).toBe(EXIT.OK);
    expect(ping.out()).toMatch(
      new RegExp(`^pong from ${b.peerId} via (server-routed|relay|direct) in \\d+ ms`, 'm'),
    );
  }, 60_000);

  it('a peer that does not allow the pinger: no pong, exit 5 with a hint', async () => {
    const ping = (await listening([])).ping(['--count', '1']);
    expect((await ping.exited).code).toBe(EXIT.TIMED_OUT);
    expect(ping.out()).toMatch(/no pong from/);
  }, 60_000);
});
