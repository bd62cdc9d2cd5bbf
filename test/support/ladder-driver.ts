/**
 * Drives test/support/ladder-peer.mjs processes in a netsim lab (one `Peer` per host): their
 * stdout protocol lines, their Peer's JSON log, and the exchange / exactly-once checks that the
 * ladder-matrix and hard-NAT netsim tests share, and the set-up of a hard-NAT lab through Peer
 * (serve on the lab's server, one ladder peer per host, log out / in, ping until direct, the
 * Peers' `hard-NAT result` lines).
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, expect } from 'vitest';
import type { Lab } from '../../netsim/index.js';
import { requireBuiltCli } from './natpush-cli.js';

export type Msg = Record<string, unknown>;

/** How many raw output lines a driver keeps for failure reports. */
const TAIL_LINES = 20;

interface Waiter {
  pred: (m: Msg) => boolean;
  resolve: (m: Msg) => void;
  reject: (e: Error) => void;
  log: boolean;
  what: string;
}

/**
 * One ladder-peer process: its stdout protocol lines and its Peer's JSON log (stderr). Every
 * wait has a deadline, and a wait fails at once when the process exits; either error says what
 * was awaited and what the process showed last (its exit, its last raw output lines), so a
 * failure never reads as a bare vitest timeout.
 */
export class LadderDriver {
  readonly lines: Msg[] = [];
  readonly logs: Msg[] = [];
  /** The last raw lines of stdout and stderr (JSON or not: a crash's stack trace is not). */
  readonly tail: string[] = [];
  readonly #waiters: Waiter[] = [];
  peer = '';
  /** `code N` / `signal S` once the process exited. */
  exit: string | undefined;
  readonly exited: Promise<void>;
  constructor(
    readonly host: string,
    readonly child: ChildProcess,
  ) {
    this.exited = new Promise((r) =>
      child.once('exit', (code, signal) => {
        this.exit = signal ? `signal ${signal}` : `code ${String(code)}`;
        r();
      }),
    );
    // 'close': the process exited and its output was read to the end; what is still awaited
    // will not come.
    child.once('close', () => {
      for (const w of this.#waiters.splice(0)) {
        w.reject(
          new Error(
            `${this.host}: exited (${String(this.exit)}) while waiting for ${w.what}\n${this.state()}`,
          ),
        );
      }
    });
    const feed = (into: Msg[], log: boolean) => (l: string) => {
      this.tail.push(`${log ? 'err' : 'out'}: ${l.length > 400 ? `${l.slice(0, 400)}…` : l}`);
      if (this.tail.length > TAIL_LINES) this.tail.shift();
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
    // stderr is piped only when the test wants the Peer's log (LADDER_DEBUG) or its errors.
    if (child.stderr)
      readline.createInterface({ input: child.stderr }).on('line', feed(this.logs, true));
  }
  /**
   * The first line (stdout, or with `log` the Peer's log) matching `pred`, seen or to come;
   * rejects after `timeoutMs` or when the process exits, saying `what` it waited for
   * (default: the predicate's source) and the process's state.
   */
  next(
    pred: (m: Msg) => boolean,
    { log = false, timeoutMs = 90_000, what = '' } = {},
  ): Promise<Msg> {
    const seen = (log ? this.logs : this.lines).find(pred);
    if (seen) return Promise.resolve(seen);
    const label = `${what || pred.toString().replace(/\s+/g, ' ')} (${log ? 'log' : 'stdout'})`;
    if (this.exit !== undefined)
      return Promise.reject(
        new Error(`${this.host}: exited (${this.exit}) before ${label}\n${this.state()}`),
      );
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        pred,
        log,
        what: label,
        resolve: (m) => (clearTimeout(t), resolve(m)),
        reject: (e) => (clearTimeout(t), reject(e)),
      };
      const t = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        reject(
          new Error(
            `${this.host}: timed out after ${timeoutMs} ms waiting for ${label}\n${this.state()}`,
          ),
        );
      }, timeoutMs);
      this.#waiters.push(w);
    });
  }
  /** What the process is doing, for failure reports: exit, pending waits, last output lines. */
  state(): string {
    return [
      `  ${this.host} (peer ${this.peer || '-'}): ${this.exit ? `exited, ${this.exit}` : `running, pid ${String(this.child.pid)}`}; ${this.lines.length} stdout lines, ${this.logs.length} log lines`,
      ...this.#waiters.map((w) => `    waiting for ${w.what}`),
      ...this.tail.map((l) => `    ${l}`),
    ].join('\n');
  }
  /** The path events (`{"path":{peer,path}}`) this Peer reported about `peer`, in order. */
  paths(peer: string): string[] {
    return this.lines
      .map((m) => m.path as Msg | undefined)
      .filter((p): p is Msg => !!p && p.peer === peer)
      .map((p) => String(p.path));
  }
  /**
   * Waits (bounded) until this Peer's last path event about `peer` is one of `want` and no new
   * one came for `quietMs`: a link that went down re-punches after its backoff (5 s, doubling per
   * failure), so "up again" takes as long as that, not a fixed pause. A link with no event yet
   * is on the server (a link starts there and reports only changes). Resolves to the last path
   * either way; the caller's assertions decide.
   */
  async settled(
    peer: string,
    want: readonly string[],
    { timeoutMs = 60_000, quietMs = 2_000 } = {},
  ): Promise<string> {
    const end = Date.now() + timeoutMs;
    let count = -1;
    let since = Date.now();
    for (;;) {
      const seen = this.paths(peer);
      if (seen.length !== count) [count, since] = [seen.length, Date.now()];
      const last = seen[seen.length - 1] ?? 'server-routed';
      if (want.includes(last) && Date.now() - since >= quietMs) return last;
      if (Date.now() >= end || this.exit !== undefined) return last;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  /**
   * The first offer this Peer registered with serve (stdout line `offer`, LADDER_DEBUG) at or
   * after stdout line `mark`, and sent no earlier than the log line `after` (its `t`), whose NAT
   * facts (`{}` when it had none) match `pred`, seen or to come. A measurement or a port mapping
   * joins the offer one re-gather later (a STUN round trip, longer on a loaded machine): wait
   * for that offer, not for a fixed pause.
   */
  offered(
    pred: (nat: Msg) => boolean,
    o: { mark?: number; after?: Msg; timeoutMs?: number; what?: string } = {},
  ): Promise<Msg> {
    const since = o.after ? Date.parse(String(o.after.t)) : -Infinity;
    return this.next(
      (m) => {
        const offer = m.offer as Msg | undefined;
        if (!offer || this.lines.indexOf(m) < (o.mark ?? 0)) return false;
        if (Date.parse(String(offer.t)) < since) return false;
        return pred((offer.nat ?? {}) as Msg);
      },
      { timeoutMs: o.timeoutMs ?? 30_000, what: o.what ?? 'an offer with the facts' },
    );
  }
  /** A line of the Peer's own log with this message. */
  logged(msg: string, timeoutMs = 30_000): Promise<Msg> {
    return this.next((m) => m.msg === msg, { log: true, timeoutMs, what: `log "${msg}"` });
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

/**
 * Registers an afterEach that, when the test failed (an assertion, a wait's deadline, or vitest's
 * own timeout, which says nothing of where the test stood), prints every driver's state: exit,
 * pending waits, last output lines.
 */
export function reportDriversOnFailure(drivers: () => Iterable<LadderDriver>): void {
  afterEach((ctx) => {
    if (ctx.task.result?.state !== 'fail') return;
    const states = [...drivers()].map((d) => d.state());
    // eslint-disable-next-line no-console
    console.log(`ladder peers after "${ctx.task.name}" failed:\n${states.join('\n')}`);
  });
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
    a.next((m) => (m.sent as Msg | undefined)?.prefix === `${prefix}a`, {
      what: `the "sent" report of ${prefix}a (${n} to ${b.host})`,
    }),
    b.next((m) => (m.sent as Msg | undefined)?.prefix === `${prefix}b`, {
      what: `the "sent" report of ${prefix}b (${n} to ${a.host})`,
    }),
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
  const state = `\n${from.state()}\n${to.state()}`;
  expect(new Set(ids).size, `${prefix}: duplicates${state}`).toBe(ids.length);
  expect(ids.length, `${prefix}: lost (${from.host} → ${to.host}, waited 60 s)${state}`).toBe(n);
  return got;
}

// ---- A hard-NAT lab through Peer (hard-nat-peer*.test.ts, nat-check-serve.test.ts) ----

/** test/support/ladder-peer.mjs: one `Peer` per process, driven over stdio. */
export const LADDER_PEER = fileURLToPath(new URL('./ladder-peer.mjs', import.meta.url));

/** undefined when miniupnpd is built (scripts/build-miniupnpd.sh), else the skip reason. */
export function miniupnpdMissing(): string | undefined {
  if (existsSync(fileURLToPath(new URL('../../.cache/miniupnpd/miniupnpd', import.meta.url)))) {
    return undefined;
  }
  const reason = 'netsim: miniupnpd not built; run scripts/build-miniupnpd.sh (as root)';
  if (process.env.CI === 'true') throw new Error(`CI=true, refusing to skip: ${reason}`);
  process.stderr.write(`skip ${reason}\n`);
  return reason;
}

/**
 * Resolves once a spawned `natpush serve` (stdout piped) printed that signaling listens; rejects
 * if it exits first or after `timeoutMs`, with its last stdout lines.
 */
export function serveListening(server: ChildProcess, timeoutMs = 30_000): Promise<void> {
  const seen: string[] = [];
  return new Promise<void>((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(t);
      reject(new Error(`natpush serve ${why}; its last stdout lines:\n${seen.join('\n')}`));
    };
    const t = setTimeout(
      () => fail(`printed no "signaling listening on http" within ${timeoutMs} ms`),
      timeoutMs,
    );
    readline.createInterface({ input: server.stdout! }).on('line', (l) => {
      seen.push(l);
      if (seen.length > TAIL_LINES) seen.shift();
      if (/signaling listening on http/.test(l)) {
        clearTimeout(t);
        resolve();
      }
    });
    server.once('exit', (code, signal) =>
      fail(`exited (${signal ?? `code ${code}`}) before listening`),
    );
  });
}

/**
 * `natpush serve` (signaling + STUN + TURN) on the lab's `server`, port 8787; resolves with its
 * URL once it listens (rejects if it exits first). The lab kills it on destroy.
 */
export async function startLabServe(
  lab: Lab,
  dataDir: string,
  extraArgs: readonly string[] = [],
): Promise<string> {
  const cli = requireBuiltCli();
  const server = lab.spawn(
    'server',
    process.execPath,
    [cli, 'serve', '--port', '8787', '--data-dir', dataDir, '--log-level', 'warn', ...extraArgs],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await serveListening(server);
  const host = extraArgs.includes('--host')
    ? extraArgs[extraArgs.indexOf('--host') + 1]!
    : lab.address('server');
  return `http://${host}:8787`;
}

/**
 * A ladder peer in `host`'s namespace, logged in with the identity file `identity` (made on
 * first use), its Peer's info log on stderr (LADDER_DEBUG). Resolves once it is ready.
 */
export async function spawnLadderPeer(
  lab: Lab,
  host: string,
  url: string,
  identity: string,
  env: Record<string, string> = {},
): Promise<LadderDriver> {
  const child = lab.spawn(host, process.execPath, [LADDER_PEER, url, identity], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, LADDER_DEBUG: '1', ...env },
  });
  const d = new LadderDriver(host, child);
  try {
    d.peer = String(((await d.next((m) => 'ready' in m, { what: '"ready"' })).ready as Msg).id);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return d;
}

/** Log out and in again: a fresh Peer (new identity, punch layer and NAT measurement). */
export async function relogin(d: LadderDriver): Promise<void> {
  const mark = d.lines.length;
  d.write({ logout: true });
  await d.next((m) => 'closed' in m && d.lines.indexOf(m) >= mark, {
    what: '"closed" after logout',
  });
  d.write({ login: {} });
  const ready = await d.next((m) => 'ready' in m && d.lines.indexOf(m) >= mark, {
    what: '"ready" after login',
  });
  d.peer = String((ready.ready as Msg).id);
}

/** Both Peers' whole logs on the console, for the reader of a failure. */
export function dumpLogs(...ds: LadderDriver[]): void {
  for (const d of ds) {
    // eslint-disable-next-line no-console
    console.log(`${d.host} log:\n${d.logs.map((m) => JSON.stringify(m)).join('\n')}`);
  }
}

/**
 * `a` pings `b` (every `intervalMs` after each pong) until a pong came back on the direct path:
 * the `pinged` / `pingError` line, and ms to direct (undefined: never direct).
 */
export async function pingUntilDirect(
  a: LadderDriver,
  b: LadderDriver,
  o: { count: number; intervalMs?: number; timeoutMs?: number },
): Promise<{ end: Msg; directMs: number | undefined }> {
  const mark = a.lines.length;
  a.write({
    ping: { to: b.peer, count: o.count, untilDirect: true, intervalMs: o.intervalMs ?? 100 },
  });
  const end = await a.next(
    (m) => ('pinged' in m || 'pingError' in m) && a.lines.indexOf(m) >= mark,
    { timeoutMs: o.timeoutMs ?? 120_000, what: `the end of ${o.count} pings to ${b.host}` },
  );
  const direct = a.lines
    .slice(mark)
    .map((m) => m.pong as Msg | undefined)
    .find((p) => p?.path === 'direct');
  return { end, directMs: direct ? Number(direct.sinceStartMs) : undefined };
}

/** The `hard-NAT result` lines each driver logged since its mark (`ds[i].logs.length` earlier). */
export function hardNatResults(ds: LadderDriver[], marks: number[]): Msg[][] {
  return ds.map((d, i) => d.logs.slice(marks[i]).filter((m) => m.msg === 'hard-NAT result'));
}

/**
 * Until either side logged a hard-NAT result since `marks` matching `pred` (default: direct),
 * at most `ms`; the Peer's log (stderr) may trail its pong (stdout).
 */
export async function awaitHardNatResult(
  ds: LadderDriver[],
  marks: number[],
  ms = 10_000,
  pred: (m: Msg) => boolean = (m) => m.path === 'direct',
): Promise<void> {
  await Promise.any(
    ds.map((d, i) =>
      d.next((m) => m.msg === 'hard-NAT result' && pred(m) && d.logs.indexOf(m) >= marks[i]!, {
        log: true,
        timeoutMs: ms,
      }),
    ),
  ).catch(() => {});
}
