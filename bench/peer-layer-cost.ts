/**
 * What the Peer layer alone adds per notification, above the session stack (session-crypto.ts
 * measures that one): the sender's `Outbox.notify` on a link that carries and acks at once, and
 * the receiver's `Inbox.fromSession` plus the application's `for await` over
 * `notifications()`, each side noting the other in a real contact list (contacts.ts) as Peer
 * does. No session, no sockets, one process.
 *
 *   npm run build && node dist/bench/peer-layer-cost.js [--rounds 12]
 *
 * Two figures per side:
 * - CPU µs per notification (process.cpuUsage over 200,000 notifications, in batches of 1,000
 *   as a flood with 1,000 unacknowledged), the minimum over `--rounds` rounds after two warm-up
 *   rounds: a shared machine only ever adds time, so the minimum is the steadiest figure;
 * - promises created per notification (async_hooks PROMISE inits over 10,000): exact, whatever
 *   the load. The sender's count includes the API's own promise, the link's and Promise.all's
 *   per element; the receiver's the queue's and the `for await`'s.
 * The machine's load average is printed with the figures.
 */
import { createHook } from 'node:async_hooks';
import os from 'node:os';
import { Contacts } from '../src/peer/contacts.js';
import { Inbox } from '../src/peer/inbox.js';
import type { LinkTable } from '../src/peer/link-table.js';
import { Outbox } from '../src/peer/outbox.js';
import { generateIdentity } from '../src/signaling/identity.js';
import { systemClock } from '../src/util/clock.js';
import { silentLogger } from '../src/util/logger.js';

const i = process.argv.indexOf('--rounds');
const ROUNDS = i >= 0 ? Number(process.argv[i + 1]) : 12;
const N = 200_000;
const BATCH = 1_000;
const me = generateIdentity();
const other = generateIdentity();
const body = 'x'.repeat(100);
const cpu = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const turn = () => new Promise<void>((r) => setImmediate(r));

function inbox(): Inbox {
  // The Peer's contact list as Peer wires it (each side notes the other per notification).
  const contacts = new Contacts();
  return new Inbox({
    identity: me,
    clock: systemClock,
    logger: silentLogger,
    dedupeCapacity: undefined,
    learnKey: () => {},
    noteContact: (peer) => void contacts.note(peer),
    sendAck: () => true,
    connected: () => true,
    dropped: {},
  });
}

function outbox(): Outbox {
  // Acked as a channel acks: all that one turn sent, from one later event (a datagram of acks),
  // never from inside `post`.
  let acks: (() => void)[] = [];
  const link = {
    carries: true,
    path: 'direct',
    post: (_n: unknown, _t: number, done: () => void) => {
      if (acks.push(done) === 1)
        setImmediate(() => {
          const due = acks;
          acks = [];
          for (const d of due) d();
        });
    },
  };
  const table = { linkFor: () => link, get: () => link } as unknown as LinkTable;
  let ref = 0;
  const contacts = new Contacts();
  return new Outbox({
    nextRef: () => (ref++).toString(36),
    identity: me,
    clock: systemClock,
    logger: silentLogger,
    direct: true,
    links: () => table,
    remoteKey: () => Promise.resolve(other.publicKey),
    sendFrame: () => true,
    noteContact: (peer) => void contacts.note(peer),
    onPath: () => {},
  });
}

/** Receive `n` (pushed in batches, a turn between) and take them all; returns CPU µs. */
async function receive(n: number): Promise<number> {
  const box = inbox();
  const t0 = cpu();
  let got = 0;
  const reader = (async () => {
    for await (const _ of box.notifications()) if (++got === n) break;
  })();
  for (let k = 0; k < n; k += BATCH) {
    for (let j = k; j < k + BATCH; j++)
      box.fromSession(other.peerId, { id: `p.${j.toString(36)}`, body }, 'direct');
    await turn();
  }
  await reader;
  return cpu() - t0;
}

/** Send `n` in batches of BATCH unacknowledged; returns CPU µs. */
async function send(n: number): Promise<number> {
  const box = outbox();
  const t0 = cpu();
  for (let k = 0; k < n; k += BATCH) {
    const all: Promise<unknown>[] = [];
    for (let j = 0; j < BATCH; j++) all.push(box.notify(other.peerId, body, {}, false));
    await Promise.all(all);
  }
  return cpu() - t0;
}

async function promisesPer(run: (n: number) => Promise<number>, n: number): Promise<number> {
  let count = 0;
  const hook = createHook({
    init: (_id, type) => {
      if (type === 'PROMISE') count++;
    },
  });
  hook.enable();
  await run(n);
  hook.disable();
  return count / n;
}

const rx: number[] = [];
const tx: number[] = [];
for (let r = 0; r < ROUNDS + 2; r++) {
  rx.push((await receive(N)) / N);
  tx.push((await send(N)) / N);
}
const best = (a: number[]) => Math.min(...a.slice(2)).toFixed(2);
const [prx, ptx] = [await promisesPer(receive, 10 * BATCH), await promisesPer(send, 10 * BATCH)];
const load = os
  .loadavg()
  .map((x) => x.toFixed(2))
  .join(' ');
console.log(`Peer layer per 100-byte notification (min of ${ROUNDS} rounds; load ${load})`);
console.log(`  receiver: ${best(rx)} µs CPU, ${prx.toFixed(2)} promises`);
console.log(`  sender:   ${best(tx)} µs CPU, ${ptx.toFixed(2)} promises`);
