/**
 * The registrations of the Redis store (redis-store.ts): every node's view of who has registered
 * (peer → public key), and the writes that register a peer, count a login as seen and learn of
 * registrations expired elsewhere — bounded as peer-limits.ts says (REGISTER_LUA refuses a new
 * peer at `max`; EXPIRE_PEERS_LUA, run by the store's sweep, deletes idle ones).
 */
import type { ClusterNode } from '../../cluster/cluster-node.js';
import type { StoreCommands } from './redis-commands.js';
import { peerLimitError, type PeerLimits } from './peer-limits.js';

export interface RedisPeersOptions {
  cluster: ClusterNode;
  /** The store's scripts (redis-commands.ts). */
  cmd: StoreCommands;
  limits: PeerLimits;
  /** The store is closed: touches are no longer written. */
  closed: () => boolean;
}

export class RedisPeers {
  readonly #c: ClusterNode;
  readonly #cmd: StoreCommands;
  readonly #limits: PeerLimits;
  readonly #closed: () => boolean;
  /**
   * Registered peers → public key, every node's (loaded at start, then the `registered`
   * broadcast). Bound: registered peers, as the embedded Mailbox's `#known` (one entry each).
   */
  readonly #known = new Map<string, string>();

  constructor(o: RedisPeersOptions) {
    this.#c = o.cluster;
    this.#cmd = o.cmd;
    this.#limits = o.limits;
    this.#closed = o.closed;
  }

  /**
   * Load every registration. Registrations written before `seen` existed get a full idle time
   * from `now` (ZADD NX keeps every score there is), as sqlite-schema.ts migrate does for its rows.
   */
  async load(now: number): Promise<void> {
    const c = this.#c;
    let cursor = '0';
    do {
      const [next, kv] = await c.redis.hscan(c.keys.peers, cursor, 'COUNT', 1000);
      const seen: (string | number)[] = [];
      for (let i = 0; i + 1 < kv.length; i += 2) {
        this.#known.set(kv[i]!, kv[i + 1]!);
        seen.push(now, kv[i]!);
      }
      if (seen.length > 0) await c.redis.zadd(c.keys.prefix + 'seen', 'NX', ...seen);
      cursor = next;
    } while (cursor !== '0');
  }

  /**
   * The bus's `registered` message. An empty key: the registration expired (EXPIRE_PEERS_LUA),
   * on whichever node swept it; true when that forgets a peer known here.
   */
  registered(peer: string, key: string): boolean {
    if (key === '') return this.#known.delete(peer);
    this.#known.set(peer, key);
    return false;
  }

  /** A registration this node's commit writes. */
  remember(peer: string, publicKey: string): void {
    this.#known.set(peer, publicKey);
  }

  /** The peers of a sweep's EXPIRE_PEERS_LUA that were known here, forgotten now. */
  forget(gone: string[]): string[] {
    return gone.filter((p) => this.#known.delete(p));
  }

  has(peer: string): boolean {
    return this.#known.has(peer);
  }

  async lookup(peer: string): Promise<boolean> {
    if (this.#known.has(peer)) return true;
    const key = await this.#c.redis.hget(this.#c.keys.peers, peer);
    if (key !== null) this.#known.set(peer, key);
    return key !== null;
  }

  register(peer: string, publicKey: string): Promise<void> {
    // The caller (mailbox.ts) makes a second registration of the same peer wait for this one.
    const now = this.#c.clock.now();
    if (this.#known.has(peer)) {
      // Registered through another node: this login only counts as seen.
      this.touch(peer, now);
      return Promise.resolve();
    }
    this.#known.set(peer, publicKey);
    const max = this.#limits.max;
    return this.#cmd.npRegister(this.#c.keys.prefix, peer, publicKey, now, max).then(
      (ok) => {
        if (ok === 1) return;
        // At the cap: refused, not logged (a flood of fresh keys would flood the log too).
        this.#known.delete(peer);
        throw peerLimitError(max);
      },
      (err: unknown) => {
        // Unknown elsewhere until it registers again (every reconnect does): logged, and the
        // connection waiting for its `welcome` is refused (the client reconnects).
        this.#known.delete(peer);
        this.#c.logger.warn('registration write failed', { peer, err: String(err) });
        throw err;
      },
    );
  }

  /** Fire and forget (store.ts): a lost touch only shortens the peer's idle time. */
  touch(peer: string, now: number): void {
    const key = this.#known.get(peer);
    if (key === undefined || this.#closed()) return;
    this.#cmd
      .npRegister(this.#c.keys.prefix, peer, key, now, this.#limits.max)
      .catch((err: unknown) =>
        this.#c.logger.warn('peer touch failed', { peer, err: String(err) }),
      );
  }

  get size(): number {
    return this.#known.size;
  }

  keys(): string[] {
    return [...this.#known.keys()];
  }

  key(peer: string): string | undefined {
    return this.#known.get(peer);
  }
}
