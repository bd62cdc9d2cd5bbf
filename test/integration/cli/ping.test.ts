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
import { within } from '../../support/deadline.js';
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

/**
 * Per test: serve, listen and ping start one after another (each Node start takes seconds on a
 * loaded 2-core machine: 19-21 s per test in a run at load 18), then ping runs its course.
 */
const PING_TEST_MS = 120_000;

/** ping's exit, bounded below PING_TEST_MS, with what it printed when it never comes. */
function exitOf(ping: NatpushProcess) {
  return within(ping.exited, 60_000, 'natpush ping to exit', () => `stdout:\n${ping.out()}`);
}

describe('natpush ping', { timeout: PING_TEST_MS }, () => {
  it('pongs through the server until the path is direct', async () => {
    const listener = await listening(['--allow', 'anyone']);
    // Up to 30 s of pings (--until-direct ends at the first direct pong, in about a second
    // here): a punch whose first try fails under load tries again after its backoff (5 s, then
    // 10 s), which 40 pings (10 s) did not always cover.
    const ping = listener.ping(['--json', '--count', '120', '--interval', '250']);
    const { code } = await exitOf(ping);
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
  });

  it('text mode reads like tailscale ping', async () => {
    const { b, ping: pingB } = await listening(['--allow', 'anyone']);
    const ping = pingB(['--count', '2', '--interval', '100', '--no-until-direct']);
    expect((await exitOf(ping)).code).toBe(EXIT.OK);
    expect(ping.out()).toMatch(
      new RegExp(`^pong from ${b.peerId} via (server-routed|relay|direct) in \\d+ ms`, 'm'),
    );
  });

  it('a peer that does not allow the pinger: no pong, exit 5 with a hint', async () => {
    const ping = (await listening([])).ping(['--count', '1']);
    expect((await exitOf(ping)).code).toBe(EXIT.TIMED_OUT);
    expect(ping.out()).toMatch(/no pong from/);
  });
});
