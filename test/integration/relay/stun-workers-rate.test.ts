/**
 * `natpush stun --workers 2 --rate-limit R` holds a source address to R for the whole server,
 * not R per worker (src/server/workers/rate-share.ts): one address sends a Binding from each of
 * many source ports at once — the kernel (SO_REUSEPORT) or node:cluster spreads them over both
 * workers — and the server answers at most burst + R · elapsed of them, as one process would.
 * Per-worker limits would answer up to twice the burst. The count is read from `/metrics` once
 * every request has been received (an event, not a sleep).
 */
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeUdpNetwork, type UdpSocket } from '../../../src/net/index.js';
import { hasReusePort } from '../../../src/server/workers/runtime.js';
import { Method, StunClass, StunMessageBuilder } from '../../../src/stun/index.js';
import { requireBuiltCli } from '../../support/natpush-cli.js';
import { node24OrSkip } from '../../support/node24.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const NODE24 = node24OrSkip();
const node = hasReusePort() || !NODE24 ? process.execPath : NODE24;
const RATE = 1; // per second: burst 2 for the whole server, 1 per worker
const SOURCES = 24;

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(url)).text();
  const line = text.split('\n').find((l) => l.startsWith(name));
  return Number(line?.split(' ').at(-1) ?? NaN);
}

describe('natpush stun --workers 2 --rate-limit', () => {
  it('answers one address at most burst + rate × elapsed over all workers', async () => {
    const child = spawn(
      node,
      [
        requireBuiltCli(),
        'stun',
        '--listen',
        '127.0.0.1:0',
        '--workers',
        '2',
        '--rate-limit',
        String(RATE),
        '--metrics-port',
        '0',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    cleanup.push(() => child.kill('SIGKILL'));
    let port = 0;
    const url = await new Promise<string>((resolve) =>
      readline.createInterface({ input: child.stdout! }).on('line', (l) => {
        const p = /listening on udp 127\.0\.0\.1:(\d+)/.exec(l);
        if (p) port = Number(p[1]);
        const m = /metrics at (\S+)/.exec(l);
        if (m) resolve(m[1]!);
      }),
    );
    const sockets: UdpSocket[] = [];
    for (let i = 0; i < SOURCES; i++) {
      const s = await nodeUdpNetwork.bindUdp({ address: '127.0.0.1' });
      cleanup.push(() => s.close());
      sockets.push(s);
    }
    let answers = 0;
    for (const s of sockets) s.onMessage(() => answers++);
    const t0 = performance.now();
    for (const s of sockets) {
      s.send(StunMessageBuilder.of(Method.Binding, StunClass.Request).build(), {
        address: '127.0.0.1',
        port,
      });
    }
    // Every request has reached a worker (answered or dropped): generous bound for a loaded box.
    const deadline = Date.now() + 30_000;
    while ((await metric(url, 'natpush_stun_received_total')) < SOURCES) {
      if (Date.now() > deadline) throw new Error('requests not all received');
      await new Promise((r) => setTimeout(r, 20));
    }
    const elapsedS = (performance.now() - t0) / 1000;
    const answered = await metric(url, 'natpush_stun_answered_total{kind="binding"}');
    expect(answered).toBeGreaterThanOrEqual(1);
    expect(answered).toBeLessThanOrEqual(2 * RATE + RATE * elapsedS);
    expect(await metric(url, 'natpush_stun_dropped_total{reason="rate-limited"}')).toBe(
      SOURCES - answered,
    );
    expect(answers).toBeLessThanOrEqual(answered);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
