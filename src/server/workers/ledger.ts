/**
 * Whole-server allocation quotas across worker processes (issue 10: quotas are whole-server, not
 * per worker). The primary owns the counts; a worker asks for a lease before it binds a relayed
 * socket and gives it back when the allocation ends. When a worker dies, its leases go with it
 * (`forget`): its allocations died too, so the counts stay exact.
 *
 * Every table is bounded by `maxAllocations`: a lease beyond it is refused before any key is
 * stored.
 */
export type LeaseVerdict = 'ok' | 'server-full' | 'quota';

export interface LedgerLimits {
  /** Whole server (RFC 8656 §7.2 → 508 Insufficient Capacity). */
  maxAllocations: number;
  /** Per user and per client IPv4 / IPv6 /64 (→ 486 Allocation Quota Reached). */
  maxAllocationsPerUser: number;
  maxAllocationsPerIp: number;
}

export class AllocationLedger {
  readonly #limits: LedgerLimits;
  #total = 0;
  readonly #users = new Map<string, number>();
  readonly #ips = new Map<string, number>();
  /** Leases per worker, by `user\nip`, to give them all back when the worker dies. */
  readonly #byWorker = new Map<number, Map<string, number>>();

  constructor(limits: LedgerLimits) {
    for (const [k, v] of Object.entries(limits)) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`${k} must be an integer >= 1`);
    }
    this.#limits = limits;
  }

  get total(): number {
    return this.#total;
  }

  acquire(worker: number, user: string, ip: string): LeaseVerdict {
    if (this.#total >= this.#limits.maxAllocations) return 'server-full';
    if ((this.#users.get(user) ?? 0) >= this.#limits.maxAllocationsPerUser) return 'quota';
    if ((this.#ips.get(ip) ?? 0) >= this.#limits.maxAllocationsPerIp) return 'quota';
    this.#total++;
    bump(this.#users, user, 1);
    bump(this.#ips, ip, 1);
    let mine = this.#byWorker.get(worker);
    if (!mine) this.#byWorker.set(worker, (mine = new Map()));
    bump(mine, `${user}\n${ip}`, 1);
    return 'ok';
  }

  /** An allocation ended; a release without a lease (a late message) is ignored. */
  release(worker: number, user: string, ip: string): void {
    const mine = this.#byWorker.get(worker);
    const key = `${user}\n${ip}`;
    if (!mine?.has(key)) return;
    bump(mine, key, -1);
    this.#give(user, ip, 1);
  }

  /** The worker died: every allocation it held is gone. */
  forget(worker: number): void {
    const mine = this.#byWorker.get(worker);
    if (!mine) return;
    this.#byWorker.delete(worker);
    for (const [key, n] of mine) {
      const i = key.indexOf('\n');
      this.#give(key.slice(0, i), key.slice(i + 1), n);
    }
  }

  #give(user: string, ip: string, n: number): void {
    this.#total -= n;
    bump(this.#users, user, -n);
    bump(this.#ips, ip, -n);
  }
}

function bump(m: Map<string, number>, key: string, by: number): void {
  const v = (m.get(key) ?? 0) + by;
  if (v <= 0) m.delete(key);
  else m.set(key, v);
}
