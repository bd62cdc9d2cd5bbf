/**
 * The drop path of the batched UDP addon (native/udp-mmsg/udp_mmsg.c), provoked for real: it
 * never blocks, so when sendmmsg(MSG_DONTWAIT) meets a full socket send buffer (EAGAIN) it drops
 * the rest of the batch and counts it, and src/net/mmsg-network.ts reports that once per batch
 * as a UdpDropError('send-failed', count). On loopback this cannot happen (the skb is orphaned at
 * once); here the sender's uplink in a lab namespace has a `tbf` qdisc at 200 kbit/s, so the
 * queued datagrams stay charged to the socket (4 KiB asked for SO_SNDBUF) until the link drains
 * them, and a burst of 64 × 1200 bytes meets EAGAIN after a few.
 *
 * Proven: exactly one UdpDropError for the burst, reason send-failed, code NATPUSH_ERR_UDP_DROPPED,
 * whose count is what did not arrive (burst − received, with the qdisc dropping nothing); the
 * sender did not block (a blocking send drops nothing; its event loop kept turning) nor crash;
 * and once the queue drained, a later burst goes out whole with no drop reported.
 */
import type { ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../netsim/index.js';
import { mmsgUnavailable } from '../../src/net/mmsg-binding.js';
import { NETSIM_REQUIREMENTS, missingPrereq } from '../support/prereq.js';

const DIST = fileURLToPath(new URL('../../dist', import.meta.url));
const SENDER = fileURLToPath(new URL('./mmsg-eagain-sender.mjs', import.meta.url));
const COUNTER = fileURLToPath(new URL('./udp-tag-counter.mjs', import.meta.url));
/** How long a wait for a line may take: far above anything here on a loaded machine. */
const LINE_MS = 60_000;

const skip =
  missingPrereq('netsim', {
    ...NETSIM_REQUIREMENTS,
    commands: { ...NETSIM_REQUIREMENTS.commands, tc: 'iproute2' },
  }) ?? (mmsgUnavailable() !== undefined ? `netsim mmsg: ${mmsgUnavailable()}` : undefined);

type Line = Record<string, unknown>;

/** A child speaking one JSON object per stdout line. */
class LineChild {
  readonly #lines: Line[] = [];
  readonly #waiters = new Set<() => void>();
  #exited: string | undefined;

  constructor(readonly child: ChildProcess) {
    readline.createInterface({ input: child.stdout! }).on('line', (l) => {
      try {
        this.#lines.push(JSON.parse(l) as Line);
      } catch {
        this.#lines.push({ text: l });
      }
      for (const w of this.#waiters) w();
    });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code, signal) => {
      this.#exited = `exited (code ${code}, signal ${signal}); stderr: ${err.slice(-2000)}`;
      for (const w of this.#waiters) w();
    });
  }

  send(m: Line): void {
    this.child.stdin!.write(JSON.stringify(m) + '\n');
  }

  /** The first line (taken) matching `pred`; rejects if the child exits or LINE_MS passes. */
  async next(what: string, pred: (l: Line) => boolean): Promise<Line> {
    const until = Date.now() + LINE_MS;
    for (;;) {
      const i = this.#lines.findIndex(pred);
      if (i >= 0) return this.#lines.splice(i, 1)[0]!;
      if (this.#exited) throw new Error(`waiting for ${what}: ${this.#exited}`);
      const left = until - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${LINE_MS} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(done, left);
        const waiters = this.#waiters;
        function done() {
          clearTimeout(t);
          waiters.delete(done);
          r();
        }
        waiters.add(done);
      });
    }
  }

  get alive(): boolean {
    return this.#exited === undefined;
  }
}

describe.skipIf(skip)('batched UDP: the EAGAIN drop path on a real slow link', () => {
  let lab: Lab;
  let sender: LineChild;
  let counter: LineChild;
  let to: { address: string; port: number };
  let dev: string;

  beforeAll(async () => {
    lab = await Lab.create({ hosts: [{ name: 'sender' }] });
    const route = await lab.exec('sender', 'ip', ['-o', 'route', 'get', lab.address('server')]);
    dev = /\bdev (\S+)/.exec(route.stdout)![1]!;
    // 200 kbit/s, one packet of burst, and a queue long enough that the qdisc itself never
    // drops: what does not fit is refused by the socket (EAGAIN), not lost on the link.
    const tc = await lab.exec('sender', 'tc', [
      'qdisc',
      'replace',
      'dev',
      dev,
      'root',
      'tbf',
      'rate',
      '200kbit',
      'burst',
      '1600',
      'limit',
      '1000000',
    ]);
    expect(tc.code, tc.stderr).toBe(0);
    counter = new LineChild(lab.spawn('server', process.execPath, [COUNTER]));
    const port = (await counter.next('the counter port', (l) => 'port' in l)).port as number;
    to = { address: lab.address('server'), port };
    sender = new LineChild(lab.spawn('sender', process.execPath, [SENDER, DIST]));
    await sender.next('the sender ready', (l) => l.ready === true);
  }, 120_000);

  afterAll(async () => {
    await lab?.destroy(); // kills both children, removes the namespaces and their veths
  });

  async function received(tag: string): Promise<number> {
    counter.send({ count: tag });
    return (await counter.next(`the count of ${tag}`, (l) => l.tag === tag)).received as number;
  }

  /** The qdisc's backlog (packets still queued on the link) and its drops. */
  async function qdisc(): Promise<{ backlog: number; dropped: number }> {
    const r = await lab.exec('sender', 'tc', ['-s', 'qdisc', 'show', 'dev', dev]);
    const dropped = Number(/dropped (\d+)/.exec(r.stdout)?.[1] ?? NaN);
    const backlog = Number(/backlog \S+ (\d+)p/.exec(r.stdout)?.[1] ?? NaN);
    return { backlog, dropped };
  }

  it('drops the rest of a batch at EAGAIN, reports it once with the right count, never blocks, and sends again once the link drained', async () => {
    const N = 64;
    sender.send({ burst: N, bytes: 1200, tag: 'b1', to });
    const r1 = await sender.next('burst b1', (l) => l.burst === 'b1');
    const drops = r1.drops as { code: string; reason: string; count: number }[];
    // One report for the one batch, of the kind and code callers switch on.
    expect(drops).toHaveLength(1);
    expect(drops[0]).toMatchObject({ code: 'NATPUSH_ERR_UDP_DROPPED', reason: 'send-failed' });
    const dropped = drops[0]!.count;
    expect(dropped).toBeGreaterThan(0);
    expect(dropped).toBeLessThan(N); // some went out before the buffer filled
    // The sender's event loop kept turning after the send (a blocking send would have waited
    // for room instead of dropping). Everything sent arrives, and only that: the count is exact.
    expect(r1.turns).toBe(3);
    await expect.poll(() => received('b1'), { timeout: 30_000, interval: 200 }).toBe(N - dropped);
    await expect.poll(async () => (await qdisc()).backlog, { timeout: 30_000 }).toBe(0);
    process.stderr.write(`netsim mmsg EAGAIN: ${N - dropped} of ${N} sent, ${dropped} dropped\n`);
    expect((await qdisc()).dropped).toBe(0); // nothing lost on the link itself
    expect(sender.alive).toBe(true);

    // Drained: the buffer is free again, and a later batch goes out whole.
    sender.send({ burst: 3, bytes: 200, tag: 'b2', to });
    const r2 = await sender.next('burst b2', (l) => l.burst === 'b2');
    expect(r2.drops).toEqual([]);
    await expect.poll(() => received('b2'), { timeout: 30_000, interval: 200 }).toBe(3);
    expect(await received('b1')).toBe(N - dropped); // nothing of b1 came late
    sender.send({ exit: true });
  }, 180_000);
});
