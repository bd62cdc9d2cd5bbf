/**
 * The primary's side of `--workers N`: N node:cluster workers, each told what to run over IPC
 * (`start`), each counted as serving once it says `ready` — never by reading its log lines. A
 * worker that dies is replaced (after RESPAWN_DELAY_MS, at most MAX_RESPAWNS_PER_WINDOW times a
 * minute); its leases in the whole-server ledger are given back at once.
 *
 * node:cluster and not worker_threads: a worker that crashes (or is OOM-killed) takes only its own
 * clients with it, each has its own heap and GC, and TCP listeners in workers are shared by the
 * primary for free (round robin). Every UDP socket a worker binds is its own (node-udp binds
 * `exclusive`), so relayed sockets are never shared between processes.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Endpoint } from '../../net/index.js';
import { systemClock, type Clock } from '../../util/clock.js';
import type { Logger } from '../../util/logger.js';
import { NatpushError } from '../../util/errors.js';
import { optionError, SERVER_ERR } from '../errors.js';
import { SECRET_ENV } from '../secrets.js';
import {
  MAX_RESPAWNS_PER_WINDOW,
  RESPAWN_DELAY_MS,
  RESPAWN_WINDOW_MS,
  WORKER_QUERY_TIMEOUT_MS,
  WORKER_READY_TIMEOUT_MS,
  WORKER_STOP_TIMEOUT_MS,
  MAX_PENDING_LOOKUPS,
} from './constants.js';
import type { AllocationLedger } from './ledger.js';
import { MirrorCache } from './mirror-cache.js';
import { SiblingLookups, type LookupDone } from './sibling-lookups.js';
import { isMessage, type FromWorker, type ToWorker } from './protocol.js';

export interface PoolOptions {
  count: number;
  /** The worker program (worker-main.js). */
  exec: string;
  /** What worker `index` runs (the `start` message's kind and config). */
  start(index: number): { kind: string; config: unknown };
  /** Whole-server allocation counts, answered for the workers' `lease` messages. */
  ledger?: AllocationLedger;
  /**
   * Relay workers mirroring each other's allocations (relay/server/siblings.ts): the primary
   * keeps at most this many (--max-allocations) so that a worker that starts gets the others'
   * existing ones (mirror-cache.ts). Without it, updates are only passed on.
   */
  maxMirrors?: number;
  /** Called each time worker `index` is ready (again, after a replacement). */
  onReady?(index: number, ready: WorkerReady): void;
  logger: Logger;
  clock?: Clock;
}

export interface WorkerReady {
  udp: Endpoint;
  tcp?: Endpoint;
}

interface Slot {
  index: number;
  worker?: Worker;
  ready?: WorkerReady;
  respawns: number[];
}

export class WorkerPool {
  readonly #o: PoolOptions;
  readonly #clock: Clock;
  readonly #slots: Slot[];
  #closing = false;
  #queryId = 0;
  /** Reservation hand-overs in flight: primary id → the claimer's slot and id. Bounded by the
   *  workers' pending Allocates; an answer that never comes is dropped with its worker. */
  readonly #claims = new Map<number, { slot: Slot; id: number }>();
  #claimId = 0;
  /** Sibling lookups in flight (#lookup). */
  readonly #lookups = new SiblingLookups<Slot>(MAX_PENDING_LOOKUPS);
  /** Replacements started so far (the tests and the counters read it). */
  replaced = 0;
  /** The workers' allocation mirrors, for a worker that starts (PoolOptions.maxMirrors). */
  readonly mirrors: MirrorCache | undefined;

  private constructor(o: PoolOptions) {
    this.#o = o;
    this.mirrors = o.maxMirrors !== undefined ? new MirrorCache(o.maxMirrors) : undefined;
    this.#clock = o.clock ?? systemClock;
    this.#slots = Array.from({ length: o.count }, (_, index) => ({ index, respawns: [] }));
  }

  /** Start every worker; resolves once all are ready, rejects (all stopped) if one fails. */
  static async start(o: PoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(o);
    try {
      // One after the other: the first may resolve `--port 0` for the others (their config is
      // built when their turn comes).
      for (const slot of pool.#slots) await pool.#spawn(slot);
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  /** The ready workers' addresses, by index. */
  get ready(): WorkerReady[] {
    return this.#slots.flatMap((s) => (s.ready ? [s.ready] : []));
  }

  /** Process ids of the live workers, by index (undefined: being replaced). */
  get pids(): (number | undefined)[] {
    return this.#slots.map((s) => (s.ready ? s.worker?.process.pid : undefined));
  }

  #spawn(slot: Slot): Promise<WorkerReady> {
    cluster.setupPrimary({ exec: this.#o.exec, args: [], silent: false });
    // Secrets reach the worker in `start` over IPC; its environment (readable in /proc by the
    // owner and root) does not keep the primary's copies. Undefined values are left out.
    const scrub = Object.fromEntries(Object.values(SECRET_ENV).map((k) => [k, undefined]));
    const w = cluster.fork({ ...scrub, NATPUSH_WORKER_INDEX: String(slot.index) });
    slot.worker = w;
    slot.ready = undefined;
    w.on('message', (m: unknown) => {
      if (isMessage<FromWorker>(m)) this.#onMessage(slot, w, m);
    });
    // A send to a worker whose channel just closed (it is exiting: a stop, a crash) fails with
    // EPIPE as an 'error' event; with no listener that would be thrown in the primary and take
    // the whole server down with exit 1 (seen once in CI-like load at `stun --workers` SIGTERM).
    // Its exit is handled on 'exit'; here it is only logged.
    w.on('error', (err: Error) => {
      this.#o.logger.debug('worker channel error', { worker: slot.index, err: err.message });
    });
    const ready = new Promise<WorkerReady>((resolve, reject) => {
      const timer = this.#clock.setTimeout(() => {
        fail(
          `worker ${slot.index} not ready after ${WORKER_READY_TIMEOUT_MS} ms`,
          SERVER_ERR.WORKER_FAILED,
        );
      }, WORKER_READY_TIMEOUT_MS);
      const fail = (message: string, code: string): void => {
        timer.cancel();
        w.off('message', onReady);
        w.off('exit', onEarlyExit);
        if (w.isConnected()) w.process.kill('SIGKILL');
        // A bad option is a usage error (exit 2); a bind error keeps its errno code (EADDRINUSE:
        // `--port 0` picks again) and, like any start failure, exits 1.
        reject(
          code === SERVER_ERR.USAGE
            ? optionError(message)
            : code.startsWith('NATPUSH_ERR_')
              ? new NatpushError(code, message)
              : Object.assign(new Error(message), { code }),
        );
      };
      const onReady = (m: unknown): void => {
        if (!isMessage<FromWorker>(m)) return;
        if (m.t === 'failed') fail(m.message, m.code);
        if (m.t !== 'ready') return;
        timer.cancel();
        w.off('message', onReady);
        w.off('exit', onEarlyExit);
        slot.ready = { udp: m.udp, ...(m.tcp ? { tcp: m.tcp } : {}) };
        w.once('exit', (code, signal) => this.#onExit(slot, w, code, signal));
        // Which process is which worker: the kernel's SO_REUSEPORT group is in bind order, so
        // an operator (and the tests) can tell whose clients a replacement re-hashes.
        this.#o.logger.info('worker ready', { worker: slot.index, pid: w.process.pid });
        this.#o.onReady?.(slot.index, slot.ready);
        resolve(slot.ready);
      };
      const onEarlyExit = (code: number | null, signal: string | null): void =>
        fail(
          `worker ${slot.index} exited before it was ready (${signal ?? code})`,
          SERVER_ERR.WORKER_FAILED,
        );
      w.on('message', onReady);
      w.once('exit', onEarlyExit);
    });
    const onHello = (m: unknown): void => {
      if (!isMessage<FromWorker>(m) || m.t !== 'hello') return;
      w.off('message', onHello);
      const { kind, config } = this.#o.start(slot.index);
      w.send({ t: 'start', kind, config } satisfies ToWorker);
      // The others' allocations as they stand, right behind `start` (one pipe, in order; the
      // worker holds them until its server serves, sibling-client.ts): a replacement knows them
      // when it joins the shared port, where the kernel may hand it their clients at once.
      // Updates passed on later apply on top.
      for (const entries of this.mirrors?.snapshot(slot.index, this.#clock.now()) ?? []) {
        w.send({ t: 'mirror-snapshot', entries } satisfies ToWorker);
      }
    };
    w.on('message', onHello);
    return ready;
  }

  #onMessage(slot: Slot, w: Worker, m: FromWorker): void {
    const ledger = this.#o.ledger;
    if (m.t === 'lease') {
      const verdict = ledger ? ledger.acquire(slot.index, m.user, m.ip) : 'ok';
      if (w.isConnected()) w.send({ t: 'leased', id: m.id, verdict } satisfies ToWorker);
    } else if (m.t === 'unlease') {
      ledger?.release(slot.index, m.user, m.ip);
    } else if (m.t === 'claim') {
      const holder = this.#slots[Number.parseInt(m.token.slice(0, 2), 16)];
      const hw = holder?.worker;
      if (!holder || holder === slot || !holder.ready || !hw?.isConnected()) {
        if (w.isConnected()) w.send({ t: 'claimed', id: m.id } satisfies ToWorker);
        return;
      }
      const id = ++this.#claimId;
      this.#claims.set(id, { slot, id: m.id });
      hw.send({ t: 'release', id, token: m.token } satisfies ToWorker);
    } else if (m.t === 'mirror') {
      // To every other live worker (relay/server/siblings.ts); none is waiting for an answer.
      this.mirrors?.set(slot.index, m.port, m.state);
      const out = { t: 'mirrored', from: slot.index, port: m.port } as const;
      const msg: ToWorker = m.state ? { ...out, state: m.state } : out;
      for (const other of this.#slots) {
        if (other !== slot && other.worker?.isConnected()) other.worker.send(msg);
      }
    } else if (m.t === 'forward') {
      // A datagram of worker `to`'s client the kernel gave `slot` (relay/server/siblings.ts).
      const to = this.#slots[m.to];
      if (to !== undefined && to !== slot && to.ready && to.worker?.isConnected()) {
        to.worker.send({ t: 'forwarded', from: m.from, data: m.data } satisfies ToWorker);
      }
    } else if (m.t === 'lookup') {
      this.#lookup(slot, m.id, m.port);
    } else if (m.t === 'mine') {
      const done = this.#lookups.answer(slot, m.id, m.state);
      if (done) this.#answerLookups([done]);
    } else if (m.t === 'released') {
      const c = this.#claims.get(m.id);
      this.#claims.delete(m.id);
      const cw = c?.slot.worker;
      if (c && cw?.isConnected()) {
        const port = m.port !== undefined ? { port: m.port } : {};
        cw.send({ t: 'claimed', id: c.id, ...port } satisfies ToWorker);
      }
    }
  }

  /** Worker `asker`'s question: whose allocation is relayed port `port` (sibling-lookups.ts)? */
  #lookup(asker: Slot, id: number, port: number): void {
    const asked = this.#slots.filter((s) => s !== asker && s.ready && s.worker?.isConnected());
    const { key, done } = this.#lookups.ask(asker, id, asked);
    this.#answerLookups(done);
    if (key === undefined) return;
    for (const s of asked) s.worker!.send({ t: 'whose', id: key, port } satisfies ToWorker);
  }

  #answerLookups(done: LookupDone<Slot>[]): void {
    for (const { asker, id, found } of done) {
      const aw = asker.worker;
      if (!aw?.isConnected()) continue;
      const m: ToWorker = found
        ? { t: 'owner', id, from: found[0].index, state: found[1] }
        : { t: 'owner', id };
      aw.send(m);
    }
  }

  #onExit(slot: Slot, w: Worker, code: number | null, signal: string | null): void {
    // Lookups waiting for its answer will not get it.
    this.#answerLookups(this.#lookups.exited(slot));
    // Its allocations are gone: so are its leases. Its clients' next request lands on another
    // worker (or its replacement), which answers 437 Allocation Mismatch; they allocate again.
    this.#o.ledger?.forget(slot.index);
    if (slot.worker !== w) return;
    // The others' mirrors of its allocations (relay/server/siblings.ts) go too.
    this.mirrors?.forget(slot.index);
    for (const other of this.#slots) {
      if (other !== slot && other.worker?.isConnected()) {
        other.worker.send({ t: 'mirror-forget', from: slot.index } satisfies ToWorker);
      }
    }
    slot.ready = undefined;
    if (this.#closing) return;
    const now = this.#clock.now();
    slot.respawns = slot.respawns.filter((t) => now - t < RESPAWN_WINDOW_MS);
    if (slot.respawns.length >= MAX_RESPAWNS_PER_WINDOW) {
      this.#o.logger.error('worker keeps dying; not replaced', {
        worker: slot.index,
        code,
        signal,
      });
      return;
    }
    slot.respawns.push(now);
    this.#o.logger.warn('worker died; replacing it', { worker: slot.index, code, signal });
    this.#clock.setTimeout(() => {
      if (this.#closing) return;
      this.replaced++;
      this.#spawn(slot).then(
        (r) => this.#o.logger.info('worker replaced', { worker: slot.index, udp: r.udp.port }),
        (err: unknown) => {
          this.#o.logger.error('worker replacement failed', {
            worker: slot.index,
            err: String(err),
          });
        },
      );
    }, RESPAWN_DELAY_MS);
  }

  /** Each ready worker's counters (a worker that does not answer in time is left out). */
  async query(): Promise<Record<string, unknown>[]> {
    const asks = this.#slots.map((s) => {
      const w = s.worker;
      if (!s.ready || !w?.isConnected()) return Promise.resolve(undefined);
      const id = ++this.#queryId;
      return new Promise<Record<string, unknown> | undefined>((resolve) => {
        const timer = this.#clock.setTimeout(() => done(undefined), WORKER_QUERY_TIMEOUT_MS);
        const onMessage = (m: unknown): void => {
          if (isMessage<FromWorker>(m) && m.t === 'answer' && m.id === id) done(m.counters);
        };
        const done = (v: Record<string, unknown> | undefined): void => {
          timer.cancel();
          w.off('message', onMessage);
          w.off('exit', onGone);
          resolve(v);
        };
        const onGone = (): void => done(undefined);
        w.on('message', onMessage);
        w.once('exit', onGone);
        w.send({ t: 'query', id } satisfies ToWorker);
      });
    });
    return (await Promise.all(asks)).filter((x) => x !== undefined);
  }

  /** Stop every worker: SIGTERM, then SIGKILL after WORKER_STOP_TIMEOUT_MS. */
  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(
      this.#slots.map(async (s) => {
        const w = s.worker;
        if (!w || w.process.exitCode !== null || w.process.signalCode !== null) return;
        const exited = new Promise<void>((r) => w.once('exit', () => r()));
        w.process.kill('SIGTERM');
        const timer = this.#clock.setTimeout(
          () => w.process.kill('SIGKILL'),
          WORKER_STOP_TIMEOUT_MS,
        );
        await exited;
        timer.cancel();
      }),
    );
  }
}
