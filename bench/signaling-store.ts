/**
 * The store and delivery path of one serve node alone, in one process: what a notification
 * costs from `accept` to the `delivered` event (the SQLite insert, the group commit and its
 * fsync, the send into a session, the ack's delete) without sockets, JSON or the schema. The
 * sessions ack each notification on the next turn of the event loop, like a client would; each
 * of `lanes` senders keeps `window` notifications outstanding, as bench/cluster-throughput does.
 *
 * It prints CPU per notification (process.cpuUsage, user + system), which on a machine shared
 * with other jobs moves much less than the rate, and the commits and fsyncs per notification.
 *
 * Run: `npm run build && node dist/bench/signaling-store.js [lanes] [window] [seconds] [sqlite|memory]`
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Delivery, type PeerSession } from '../src/signaling/delivery.js';
import { Mailbox } from '../src/signaling/mailbox.js';
import { Metrics, signalingMetrics } from '../src/signaling/metrics.js';
import type { Notification } from '../src/signaling/protocol.js';
import { MemoryStore } from '../src/signaling/store/memory-store.js';
import { SqliteStore } from '../src/signaling/store/sqlite-store.js';
import type { MailboxStore } from '../src/signaling/store/store.js';
import { systemClock } from '../src/util/clock.js';
import { silentLogger } from '../src/util/logger.js';

const lanes = Number(process.argv[2] ?? 50);
const window = Number(process.argv[3] ?? 8);
const seconds = Number(process.argv[4] ?? 5);
const kind = process.argv[5] ?? 'sqlite';
const BODY = 'x'.repeat(100);

const dir = mkdtempSync(join(tmpdir(), 'np-store-bench-'));
const raw: MailboxStore =
  kind === 'memory' ? new MemoryStore() : new SqliteStore(join(dir, 'mailbox.sqlite'));
// Count commits and fsyncs by wrapping the two calls (the store's own code runs unchanged).
let commits = 0;
let syncs = 0;
const transaction = raw.transaction.bind(raw);
raw.transaction = <T>(fn: () => T): T => {
  commits++;
  return transaction(fn);
};
const sync = raw.sync?.bind(raw);
if (sync)
  raw.sync = () => {
    syncs++;
    return sync();
  };

const mailbox = new Mailbox({
  store: raw,
  clock: systemClock,
  logger: silentLogger,
  quota: 1_000_000,
  maxDelayMs: 1,
});
const delivery = new Delivery({
  mailbox,
  clock: systemClock,
  logger: silentLogger,
  metrics: signalingMetrics(new Metrics()),
  window: 64,
  retryAfterMs: 5_000,
});

/** A session that acks what it is given on the next turn, as a client over loopback would. */
class AckingSession implements PeerSession {
  readonly transport = 'websocket' as const;
  constructor(readonly peer: string) {}
  offer(n: Notification): boolean {
    setImmediate(() => delivery.ack(this.peer, [n.id], 'websocket'));
    return true;
  }
  close(): void {}
}

const peerId = (i: number, side: string) => (side + String(i)).padEnd(32, 'a');
let seq = 0;
let done = 0;
let measuring = false;
let stopped = false;
const send = (lane: number) => {
  if (stopped) return;
  const id = `n${seq++}`;
  void mailbox
    .accept({
      id,
      from: peerId(lane, 's'),
      to: peerId(lane, 'r'),
      topic: '',
      body: BODY,
      ts: Date.now(),
      expires: Date.now() + 60_000,
    })
    .catch(() => {});
};
delivery.events = {
  presence: () => {},
  delivered: (r) => {
    if (measuring) done++;
    send(Number(r.from.slice(1, r.from.indexOf('a'))));
  },
};
for (let i = 0; i < lanes; i++) {
  mailbox.register(peerId(i, 'r'), 'k');
  delivery.attach(new AckingSession(peerId(i, 'r')));
}
for (let i = 0; i < lanes; i++) for (let k = 0; k < window; k++) send(i);
await new Promise((r) => setTimeout(r, 1000));
const c0 = process.cpuUsage();
const k0 = { commits, syncs };
measuring = true;
const t0 = performance.now();
await new Promise((r) => setTimeout(r, seconds * 1000));
measuring = false;
const elapsed = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(c0);
const k1 = { commits, syncs };
stopped = true;
await new Promise((r) => setTimeout(r, 100));
await mailbox.close();
await raw.close();
rmSync(dir, { recursive: true, force: true });
const per = (x: number) => (x / Math.max(1, done)).toFixed(3);
console.log(
  `signaling-store (${kind}, ${lanes} lanes × ${window}): ${Math.round(done / elapsed)} notifications/s, ` +
    `CPU ${((cpu.user + cpu.system) / Math.max(1, done)).toFixed(1)} µs/notification ` +
    `(user ${(cpu.user / Math.max(1, done)).toFixed(1)}), ` +
    `${per(k1.commits - k0.commits)} commits and ${per(k1.syncs - k0.syncs)} fsyncs per notification`,
);
console.log(`load: ${execFileSync('uptime', { encoding: 'utf8' }).trim()}`);
