/**
 * `natpush serve --early-ack-ms` reaches the server (a real `natpush serve` process, the built
 * CLI): with a minute, every notification to a recipient that acks is acked before it is
 * written (never written; `natpush_notifications_unwritten_total` counts it); with 0 (from a
 * `--config` file) the fast path is off — nothing is acked unwritten, and `accepted` comes for
 * notifications the recipient never acks, once they are on disk.
 *
 * No timed assertion: a minute is far above any ack delay on a loaded machine, and with 0 no
 * notification can take the fast path whatever the timing (mailbox.ts then makes no
 * EarlyAccepts at all).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { allow, drained, RawClient } from './helpers.js';
import { runNatpush, serve, type NatpushProcess } from './natpush-process.js';

const procs: NatpushProcess[] = [];
const sockets: RawClient[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const c of sockets.splice(0)) c.ws.terminate();
  for (const p of procs.splice(0)) await p.kill();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'np-early-opt-'));
  dirs.push(d);
  return d;
}

async function start(extra: string[]): Promise<string> {
  const s = await serve(tmp(), ['--no-relay', '--no-stun', ...extra]);
  procs.push(s.p);
  return s.url;
}

/** Sender `a` and recipient `b`, which allows `a`, logged in on `url`. */
async function pair(url: string) {
  const a = await RawClient.open(url);
  sockets.push(a);
  const b = await RawClient.open(url);
  sockets.push(b);
  const aid = await a.login();
  const bid = await b.login();
  await allow(b, [aid.peerId]);
  return { a, b, to: bid.peerId };
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
}

/** Ids `b` is delivered, in order; each acked at once while `acking()` says so. */
function record(b: RawClient, acking: () => boolean): string[] {
  const got: string[] = [];
  b.ws.on('message', (d) => {
    const m = JSON.parse(d.toString()) as { type: string; n?: { id: string } };
    if (m.type !== 'deliver') return;
    got.push(m.n!.id);
    if (acking()) b.send({ type: 'ack', ids: [m.n!.id] });
  });
  return got;
}

/** Send `list` from `a` to `to` and wait for every `accepted`. */
async function sendAll(a: RawClient, to: string, list: string[]): Promise<void> {
  for (const id of list) a.send({ type: 'notify', ref: id, id, to, body: id });
  for (const id of list) await a.wait('accepted', (m) => m.id === id);
}

const ids = (p: string, n: number) => Array.from({ length: n }, (_, i) => `${p}${i}`);

describe('natpush serve --early-ack-ms', () => {
  it('--help lists it with its default', async () => {
    const p = runNatpush(['serve', '--help']);
    procs.push(p);
    expect((await p.exited).code).toBe(0);
    const help = p.out().replace(/\s+/g, ' ');
    expect(help).toMatch(/--early-ack-ms .*0 = off \(every notification written before accepted\)/);
    expect(help).toMatch(/--early-ack-ms .*?\[number\] \[default: 50\]/);
  }, 60_000);

  it('a minute: a notification is sent unwritten and accepted at its ack, never written', async () => {
    const url = await start(['--early-ack-ms', '60000']);
    const { a, b, to } = await pair(url);
    const got = record(b, () => false);
    const list = ids('x', 20);
    for (const id of list) a.send({ type: 'notify', ref: id, id, to, body: id });
    await expect.poll(() => got.length, { timeout: 30_000 }).toBe(20);
    // Sent before written, and not accepted while unacked: the write is due in a minute. (The
    // pause only gives a server that ignored the flag time to show it; nothing times out.)
    await new Promise((r) => setTimeout(r, 200));
    await drained(a);
    expect(a.frames.filter((m) => m.type === 'accepted')).toEqual([]);
    // One ack for all: `accepted` for each comes at it, and none was ever written.
    b.send({ type: 'ack', ids: list });
    for (const id of list) await a.wait('accepted', (m) => m.id === id);
    expect(got).toEqual(list);
    expect(await metric(url, 'natpush_notifications_unwritten_total')).toBe(20);
  }, 90_000);

  it('0 from --config: the fast path is off — nothing acked unwritten, accepted without an ack', async () => {
    const config = join(tmp(), 'serve.json');
    writeFileSync(config, JSON.stringify({ 'early-ack-ms': 0 }));
    const url = await start(['--config', config]);
    const { a, b, to } = await pair(url);
    let acks = true;
    const got = record(b, () => acks);
    await sendAll(a, to, ids('y', 20));
    // Without the fast path, delivery starts at the commit beside the fsync and `accepted` goes
    // after the fsync: the last deliveries may still be on their way when every `accepted` is in.
    await expect.poll(() => got.length).toBe(20);
    expect(got).toEqual(ids('y', 20));
    expect(await metric(url, 'natpush_notifications_unwritten_total')).toBe(0);
    // The recipient stops acking: each notification is still accepted (written and fsynced),
    // and delivered.
    acks = false;
    await sendAll(a, to, ids('z', 5));
    await expect.poll(() => got.length, { timeout: 30_000 }).toBe(25);
    expect(got.slice(20)).toEqual(ids('z', 5));
    expect(await metric(url, 'natpush_notifications_unwritten_total')).toBe(0);
  }, 90_000);
});
