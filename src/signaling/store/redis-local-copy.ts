/**
 * The local copies of the mailboxes of the peers claimed by this node (redis-store.ts): delivery
 * reads synchronously, so each claimed peer's mailbox is mirrored here — at most `depth` entries,
 * refilled from Redis as they drain. No Redis calls here: the store feeds in the replies of its
 * claims and refills (`loaded`), the notifications Redis stored (`take`), and the acks (`forget`).
 */
import type { Notification } from '../protocol.js';
import type { StoredNotification } from './store.js';

/**
 * An entry of a local copy. `seq` is this node's own sequence, given as entries enter the copy,
 * so delivery sees seqs grow in arrival order (its cursor relies on it); `rseq` is Redis's, which
 * may arrive out of order here (this node's commit answers and other nodes' `stored` messages
 * come on two connections).
 */
export interface LocalEntry extends StoredNotification {
  rseq: number;
}

/** One claimed peer's local copy of its mailbox. */
export interface LocalMailbox {
  /** In local seq order; ≤ depth entries. */
  list: LocalEntry[];
  /** Highest seq ever copied: refills read after it (so expired or acked ones are not re-read). */
  tail: number;
  /** Redis holds entries after `tail` (not copied: the copy was full). */
  more: boolean;
  /** Lowest Redis seq − 1 of an entry left out while the copy was full: the refill reads from there. */
  dropFrom: number | undefined;
  transport: string;
  /** Entries stored in Redis (ZCARD at load, then kept by commits and arrivals). */
  depth: number;
  /** A claim or refill in flight: arrivals meanwhile wait here, merged when it answers. */
  loading: boolean;
  arrived: LocalEntry[];
}

/**
 * Redis seqs recently removed from local copies (acked), so that a late `stored` message of one
 * of them is not taken as new. Bound: 4,096 entries (FIFO), a few hundred KB.
 */
const RECENTLY_GONE_MAX = 4_096;

export class LocalCopies {
  /** Claimed peers (sessions here). Bound: delivery routes (maxConnections + maxPollSessions). */
  readonly byPeer = new Map<string, LocalMailbox>();
  readonly #gone = new Set<number>();
  #localSeq = 0;

  /** `depth`: most entries of one copy (CLUSTER_LIMITS.localMailboxDepth). */
  constructor(readonly depth: number) {}

  /** A fresh copy for a peer being claimed (loading until its claim's reply is `loaded`). */
  static empty(transport: string): LocalMailbox {
    return {
      list: [],
      tail: 0,
      more: false,
      dropFrom: undefined,
      transport,
      depth: 0,
      loading: true,
      arrived: [],
    };
  }

  /** A claim's or refill's reply: `[seq, value]*, more` merged with what arrived meanwhile. */
  loaded(l: LocalMailbox, reply: (string | number)[]): void {
    const more = Number(reply[reply.length - 1]) === 1;
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const seq = Number(reply[i]);
      const v = String(reply[i + 1]);
      if (v === '' || this.#gone.has(seq) || l.list.some((x) => x.rseq === seq)) continue;
      const n = JSON.parse(v.slice(v.indexOf('\n') + 1)) as Notification;
      l.list.push({ ...n, seq: ++this.#localSeq, rseq: seq });
      l.tail = Math.max(l.tail, seq);
    }
    l.more = more;
    l.dropFrom = undefined;
    l.loading = false;
    // What arrived during the load: in the reply already, or after it (kept if the copy has
    // everything up to it — otherwise it is in Redis beyond the copy and the next refill reads it).
    for (const s of l.arrived) this.#append(l, s);
    l.arrived = [];
    l.depth = Math.max(l.depth, l.list.length);
  }

  /**
   * Redis stored `n` as `rseq` (this node's commit, or another's `stored` message): into the
   * local copy if its recipient is claimed here. Returns the entry when delivery may send it now.
   */
  take(n: Notification, rseq: number): LocalEntry | undefined {
    const l = this.byPeer.get(n.to);
    if (!l || this.#gone.has(rseq)) return undefined;
    l.depth++;
    const s: LocalEntry = { ...n, seq: 0, rseq };
    if (l.loading) {
      l.arrived.push(s);
      return undefined;
    }
    return this.#append(l, s) ? s : undefined;
  }

  /** An ack removed (from, id) from `to`'s mailbox in Redis: out of the copy too. */
  forget(to: string, from: string, id: string): void {
    const l = this.byPeer.get(to);
    if (!l) return;
    const i = l.list.findIndex((x) => x.id === id && x.from === from);
    if (i >= 0) {
      this.#gone.add(l.list[i]!.rseq);
      if (this.#gone.size > RECENTLY_GONE_MAX) this.#gone.delete(this.#gone.values().next().value!);
      l.list.splice(i, 1);
    }
    l.depth = Math.max(0, l.depth - 1);
  }

  /**
   * Append if the copy is complete and has room (else it stays for a refill, which reads Redis
   * in order). Redis seqs may arrive out of order; each is taken once.
   */
  #append(l: LocalMailbox, s: LocalEntry): boolean {
    if (l.list.some((x) => x.rseq === s.rseq)) return false;
    if (l.more || l.list.length >= this.depth) {
      l.more = true;
      l.dropFrom = Math.min(l.dropFrom ?? Infinity, s.rseq - 1);
      return false;
    }
    s.seq = ++this.#localSeq;
    l.list.push(s);
    l.tail = Math.max(l.tail, s.rseq);
    return true;
  }
}
