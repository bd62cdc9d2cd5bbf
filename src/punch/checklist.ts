/**
 * The checklist of one session (RFC 8445 §6.1.2): the remote candidates we know and the pairs
 * (local base × remote candidate) formed from them, with their priorities and the order in which
 * they are checked and nominated. Both tables are bounded (PUNCH_LIMITS): a peer that trickles
 * or spoofs sources cannot grow them past `maxRemoteCandidates` / `maxPairs`.
 */
import type { Endpoint } from '../net/udp.js';
import { endpointKey, normalizeAddress, sameEndpoint } from '../net/udp.js';
import type { Candidate, CandidateBase } from './candidates.js';
import type { Role } from './check-message.js';
import type { CandidatePair, PairState, PathKind } from './check-types.js';
import { pairId, pairPriority } from './check-types.js';
import { PUNCH_LIMITS } from './constants.js';

/** Highest pair priority first (§6.1.2.5); priorities are bigints, so no subtraction. */
function byPriority(a: CandidatePair, b: CandidatePair): number {
  return b.priority > a.priority ? 1 : b.priority < a.priority ? -1 : 0;
}

export class Checklist {
  readonly #remotes = new Map<string, Candidate>();
  readonly #pairs = new Map<string, CandidatePair>();

  /**
   * @param localPriority the local candidate priority on a base (the relay's may come later).
   * @param relayIps the IPs of the TURN relay we use (its server and our relayed address), read
   *   when a pair is formed (see `#atRelay`).
   */
  constructor(
    readonly localPriority: (base: CandidateBase) => number,
    readonly relayIps: () => readonly string[] = () => [],
  ) {}

  get remoteCount(): number {
    return this.#remotes.size;
  }

  remotes(): IterableIterator<Candidate> {
    return this.#remotes.values();
  }

  /** A remote candidate we already know at this address, if any. */
  remote(at: Endpoint): Candidate | undefined {
    return this.#remotes.get(endpointKey(at));
  }

  /** Record a remote candidate; false when it is known already or the table is full. */
  addRemote(c: Candidate): boolean {
    const key = endpointKey(c);
    const known = this.#remotes.get(key);
    if (known) {
      if (known.type === 'prflx' && c.type === 'relay') this.#relayed(known);
      return false;
    }
    if (this.#remotes.size >= PUNCH_LIMITS.maxRemoteCandidates) return false;
    this.#remotes.set(key, c);
    if (c.type === 'relay') this.relayKnown();
    return true;
  }

  /**
   * A relay IP became known (our allocation, or a relayed candidate of the remote's): pairs
   * toward a peer-reflexive remote at it are relayed (`#atRelay`), and so is a path selected on
   * one — read live by path.ts.
   */
  relayKnown(): void {
    for (const r of this.#remotes.values()) if (this.#atRelay(r)) this.#relayed(r, false);
  }

  /**
   * A peer-reflexive remote at a relay's IP is the far end of a TURN allocation, not a NAT
   * mapping (issue 9 leftover): a check the remote sent through its allocation arrives from its
   * relayed address, and until (unless) that relayed candidate is signalled — it is not when the
   * remote selected before its allocation existed, nor after its allocation was replaced (a new
   * relayed port) — the pair said `direct`. The relay IPs are ours (the remote usually has its
   * allocation on the same serve relay: the same relayed IP) and those of the remote's signalled
   * relayed candidates. Signalled host and srflx remotes keep the type the remote gave them.
   */
  #atRelay(remote: Candidate): boolean {
    if (remote.type !== 'prflx') return false;
    const ip = normalizeAddress(remote.address);
    if (this.relayIps().some((a) => normalizeAddress(a) === ip)) return true;
    for (const r of this.#remotes.values())
      if (r.type === 'relay' && normalizeAddress(r.address) === ip) return true;
    return false;
  }

  /**
   * The remote's relayed candidate, signalled (trickled) after a check it sent from its relay
   * base made it a peer-reflexive one here: the address is the remote's relay, so the candidate
   * and every pair toward it are relayed — the pair, and a path already selected on it, would
   * otherwise say `direct` for a path through a relay (and the ladder, content with "direct",
   * would never try for a real one). libnice does the same: a signalled candidate at a
   * peer-reflexive remote's address updates its type.
   */
  #relayed(known: Candidate, retype = true): void {
    if (retype) (known as { type: Candidate['type'] }).type = 'relay';
    for (const p of this.#pairs.values())
      if (p.remote === known) (p as { kind: PathKind }).kind = 'relay';
  }

  /**
   * RFC 8445 §7.3.1.3: a check from an unknown source makes a peer-reflexive remote candidate,
   * with the priority the check carried. Undefined when the remote table is full.
   */
  learnPrflx(from: Endpoint, priority: number): Candidate | undefined {
    if (this.#remotes.size >= PUNCH_LIMITS.maxRemoteCandidates) return undefined;
    const remote: Candidate = { type: 'prflx', address: from.address, port: from.port, priority };
    this.#remotes.set(endpointKey(from), remote);
    return remote;
  }

  get(id: string): CandidatePair | undefined {
    return this.#pairs.get(id);
  }

  /** The pair on `base` toward `remote`, if formed. */
  find(base: CandidateBase, remote: Endpoint): CandidatePair | undefined {
    return this.#pairs.get(pairId(base, remote));
  }

  values(): IterableIterator<CandidatePair> {
    return this.#pairs.values();
  }

  /** Form (or return) the pair; undefined when the pair table is full. */
  pair(base: CandidateBase, remote: Candidate, role: Role): CandidatePair | undefined {
    const id = pairId(base, remote);
    const existing = this.#pairs.get(id);
    if (existing) return existing;
    if (this.#pairs.size >= PUNCH_LIMITS.maxPairs) return undefined;
    const local = this.localPriority(base);
    // RFC 8445 §6.1.2.3: G = controlling side's candidate priority, D = controlled side's.
    const [g, d] = role === 'controlling' ? [local, remote.priority] : [remote.priority, local];
    const pair: CandidatePair = {
      id,
      base,
      remote,
      kind:
        base === 'relay' || remote.type === 'relay' || this.#atRelay(remote) ? 'relay' : 'direct',
      priority: pairPriority(g, d),
      state: 'waiting',
      heard: false,
      nominated: false,
    };
    this.#pairs.set(id, pair);
    return pair;
  }

  count(state: PairState): number {
    let n = 0;
    for (const p of this.#pairs.values()) if (p.state === state) n++;
    return n;
  }

  /** The next ordinary check: the best waiting pair (§6.1.4.2). */
  bestWaiting(): CandidatePair | undefined {
    return [...this.#pairs.values()].filter((p) => p.state === 'waiting').sort(byPriority)[0];
  }

  /** The best pair of `kind` whose check succeeded (a nomination candidate, §8.1.1). */
  bestSucceeded(kind: PathKind): CandidatePair | undefined {
    return [...this.#pairs.values()]
      .filter((p) => p.state === 'succeeded' && p.kind === kind)
      .sort(byPriority)[0];
  }

  /**
   * Session datagrams from `from`, arriving on `base`, belong to the `selected` pair's session:
   * its remote, or any pair on `base` whose own check succeeded or from which an authenticated
   * check came (`heard`). Under aggressive nomination (nomination.ts) the two sides may select
   * different pairs, and the other side selects only a pair whose check was answered — that is,
   * a check that reached us from the source its data now comes from: so the other side's
   * selected pair is always heard here, on the base it arrives on, even when our own check on it
   * was aborted by our selection or is on the other base. Netsim (issue 9/11, pcp restarted):
   * the controlling side selected a peer-reflexive remote that was our RELAYED address while we
   * selected a socket pair; its data came in on our relay base and was dropped here, every ping
   * was lost, and consent (STUN, answered on any pair) kept both paths 'fresh' for ~90 s. What
   * is taken is still only a session datagram, which the Noise session authenticates.
   */
  validFor(selected: CandidatePair, from: Endpoint, base: CandidateBase = selected.base): boolean {
    if (base === selected.base && sameEndpoint(selected.remote, from)) return true;
    const p = this.find(base, from);
    return p !== undefined && (p.state === 'succeeded' || p.heard);
  }

  /** A direct pair is still waiting or being checked (so a relay should wait for it), not
   *  counting those in `silent` (silent-direct.ts). */
  directPending(silent: ReadonlySet<string> = new Set()): boolean {
    return [...this.#pairs.values()].some(
      (p) =>
        p.kind === 'direct' &&
        (p.state === 'waiting' || p.state === 'in-progress') &&
        !silent.has(p.id),
    );
  }
}
