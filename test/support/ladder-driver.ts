/**
 * Drives test/support/ladder-peer.mjs processes in a netsim lab (one `Peer` per host): their
 * stdout protocol lines, their Peer's JSON log, and the exchange / exactly-once checks that the
 * ladder-matrix and hard-NAT netsim tests share.
 */
import type { ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { expect } from 'vitest';

export type Msg = Record<string, unknown>;

/** One ladder-peer process: its stdout protocol lines and its Peer's JSON log (stderr). */
export class LadderDriver {
  readonly lines: Msg[] = [];
  readonly logs: Msg[] = [];
  readonly #waiters: { pred: (m: Msg) => boolean; resolve: (m: Msg) => void; log: boolean }[] = [];
  peer = '';
  readonly exited: Promise<void>;
  constructor(
    readonly host: string,
    readonly child: ChildProcess,
  ) {
    this.exited = new Promise((r) => child.once('exit', () => r()));
    const feed = (into: Msg[], log: boolean) => (l: string) => {
      if (!l.startsWith('{')) return;
      let m: Msg;
      try {
        m = JSON.parse(l) as Msg;
      } catch {
        return;
      }
      into.push(m);
      for (const w of [...this.#waiters]) {
        if (w.log !== log || !w.pred(m)) continue;
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(m);
      }
    };
    readline.createInterface({ input: child.stdout! }).on('line', feed(this.lines, false));
    // stderr is piped only when the test wants the Peer's log (LADDER_DEBUG).
    if (child.stderr)
      readline.createInterface({ input: child.stderr }).on('line', feed(this.logs, true));
  }
  next(pred: (m: Msg) => boolean, { log = false, timeoutMs = 90_000 } = {}): Promise<Msg> {
    const seen = (log ? this.logs : this.lines).find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.host}: timed out`)), timeoutMs);
      this.#waiters.push({ pred, log, resolve: (m) => (clearTimeout(t), resolve(m)) });
    });
  }
  /** A line of the Peer's own log with this message. */
  logged(msg: string, timeoutMs = 30_000): Promise<Msg> {
    return this.next((m) => m.msg === msg, { log: true, timeoutMs });
  }
  write(m: Msg): void {
    this.child.stdin!.write(JSON.stringify(m) + '\n');
  }
  got(from: string, prefix: string): Msg[] {
    return this.lines
      .map((m) => m.got as Msg | undefined)
      .filter((g): g is Msg => !!g && g.from === from && String(g.id).startsWith(`${prefix}-`));
  }
}

/** Both sides send `n` to each other; returns each side's `sent` report. */
export async function exchange(
  a: LadderDriver,
  b: LadderDriver,
  n: number,
  prefix: string,
): Promise<[Msg, Msg]> {
  a.write({ send: { to: b.peer, n, prefix: `${prefix}a` } });
  b.write({ send: { to: a.peer, n, prefix: `${prefix}b` } });
  const [sa, sb] = await Promise.all([
    a.next((m) => (m.sent as Msg | undefined)?.prefix === `${prefix}a`),
    b.next((m) => (m.sent as Msg | undefined)?.prefix === `${prefix}b`),
  ]);
  return [sa.sent as Msg, sb.sent as Msg];
}

/** Waits until every one of the `n` arrived, then checks exactly once. */
export async function exactlyOnce(
  to: LadderDriver,
  from: LadderDriver,
  n: number,
  prefix: string,
): Promise<Msg[]> {
  const deadline = Date.now() + 60_000;
  while (to.got(from.peer, prefix).length < n && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 300)); // a late duplicate would show here
  const got = to.got(from.peer, prefix);
  const ids = got.map((g) => String(g.id));
  expect(new Set(ids).size, `${prefix}: duplicates`).toBe(ids.length);
  expect(ids.length, `${prefix}: lost`).toBe(n);
  return got;
}
