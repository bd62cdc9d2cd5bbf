/**
 * A punched path: the selected candidate pair, as the session layer sees it. It carries natpush
 * session datagrams (first byte 0xC0–0xCF, RFC 7983 range left free) and nothing else; it is
 * kept alive by the check agent's consent checks (RFC 7675), which also refresh the NAT mappings
 * on both sides every ~5 s, well under Linux conntrack's 30 s unreplied timeout.
 *
 * The pair under it may change once after selection: a relayed pair gives way to a direct pair
 * the controlling side nominated later (pair-upgrade.ts, RFC 5245 §8.1.1.2). `kind`, `local`,
 * `remote`, `rttMs` and `remoteType` then say the new pair, `send` uses it, and `onSwitched`
 * tells the session layer.
 */
import type { Endpoint } from '../net/udp.js';
import type { TurnClient } from '../relay/index.js';
import type { CandidateType } from './candidates.js';
import type { CheckAgent, CandidatePair, CheckStats, PathKind } from './checks.js';
import type { SocketDemux, Via } from './demux.js';

export interface PunchedPath {
  readonly kind: PathKind;
  /** Our end: the socket's mapped address (direct) or the relayed address (relay via our TURN). */
  readonly local: Endpoint;
  /** The remote candidate we send to. */
  readonly remote: Endpoint;
  /** Round trip of the check that validated the pair, ms. */
  readonly rttMs: number | undefined;
  /** The remote candidate's type: prflx means it was learned from the remote's own check. */
  readonly remoteType: CandidateType;
  /** The session's check counters (rejected forgeries included). */
  readonly stats: Readonly<CheckStats>;
  /** Send one session datagram (first byte 0xC0–0xCF; TypeError otherwise). */
  send(bytes: Uint8Array): void;
  /** Session datagrams from the remote on this path. */
  onData(cb: (bytes: Uint8Array) => void): () => void;
  /** Consent lost (RFC 7675): the path is dead; the ladder moves down and re-punches. */
  onDead(cb: (reason: string) => void): () => void;
  /** The remote's authenticated checks now come from a new address (NAT rebinding): re-punch. */
  onRepunchNeeded(cb: (newRemote: Endpoint) => void): () => void;
  /**
   * The path moved from a relayed pair to a direct one (pair-upgrade.ts), `kind` its new kind.
   * Optional: only punched paths switch (a scripted test path need not).
   */
  onSwitched?(cb: (kind: PathKind) => void): () => void;
  close(): void;
  readonly closed: boolean;
}

export interface PathParts {
  agent: CheckAgent;
  pair: CandidatePair;
  demux: SocketDemux;
  relay: TurnClient | undefined;
  /** Datagrams that arrived before selection; those from the selected remote go to the first
   *  onData listener. */
  early: { data: Uint8Array; from: Endpoint; via: Via }[];
  onClose: () => void;
}

export function createPunchedPath(p: PathParts): PunchedPath {
  const { agent, demux } = p;
  let pair = p.pair;
  const endpoint = (c: CandidatePair): Endpoint => ({
    address: c.remote.address,
    port: c.remote.port,
  });
  let remote = endpoint(pair);
  const dataListeners = new Set<(b: Uint8Array) => void>();
  const deadListeners = new Set<(r: string) => void>();
  const moveListeners = new Set<(e: Endpoint) => void>();
  const switchListeners = new Set<(k: PathKind) => void>();
  let closed = false;
  let dead: string | undefined;
  let early = p.early.filter((e) => agent.isSelectedRemote(e.from, e.via)).map((e) => e.data);

  const offData = demux.on('session', (data, from, via) => {
    if (closed || !agent.isSelectedRemote(from, via)) return; // not this path's remote
    for (const l of dataListeners) l(data);
  });
  const die = (reason: string): void => {
    if (dead !== undefined) return;
    dead = reason;
    for (const l of deadListeners) l(reason);
  };
  agent.onDead(die);
  agent.onRemoteMoved((e) => {
    for (const l of moveListeners) l(e);
  });
  let relay = pair.base === 'relay' ? p.relay : undefined;
  // A path on our allocation dies with it (its relay died or forgot it, issue 12): the ladder
  // moves at once instead of after consent's 30 s (RFC 7675), and the gatherer allocates anew.
  let offLost = relay?.onLost((reason) => die(`relay allocation lost: ${reason}`));
  if (relay?.lost !== undefined) queueMicrotask(() => die(`relay allocation lost: ${relay?.lost}`));
  // RFC 8656 §12: a channel makes relayed datagrams 4 bytes of overhead instead of ~36.
  if (relay) void relay.bindChannel(remote).catch(() => {});
  // Only ever onto a direct pair (pair-upgrade.ts): off our allocation, whose loss is no longer
  // this path's death.
  agent.onSwitched((next) => {
    if (closed) return;
    pair = next;
    remote = endpoint(next);
    offLost?.();
    offLost = undefined;
    relay = undefined;
    for (const l of switchListeners) l(next.kind);
  });

  return {
    // Read live: a relayed candidate trickled in after selection relabels a peer-reflexive
    // remote at the relay's address (checklist.ts #relayed).
    get kind() {
      return pair.kind;
    },
    get local() {
      return relay ? relay.relayedAddress : (pair.mapped ?? demux.socket.address());
    },
    get remote() {
      return remote;
    },
    get rttMs() {
      return pair.rttMs;
    },
    get remoteType() {
      return pair.remote.type;
    },
    stats: agent.stats,
    send(bytes: Uint8Array): void {
      const b0 = bytes[0];
      if (b0 === undefined || b0 < 0xc0 || b0 > 0xcf)
        throw new TypeError('a punched path carries session datagrams (first byte 0xC0–0xCF)');
      if (closed) throw new TypeError('send on a closed path');
      // A lost allocation's client is closed (candidates.ts): the datagram is lost, as on a dead
      // path; the path is dead already (onLost above) and the session is moving.
      if (relay) {
        if (!relay.closed) relay.send(remote, bytes);
      } else demux.socket.send(bytes, remote);
    },
    onData(cb) {
      dataListeners.add(cb);
      const pending = early;
      early = [];
      for (const d of pending) cb(d);
      return () => dataListeners.delete(cb);
    },
    onDead(cb) {
      deadListeners.add(cb);
      if (dead !== undefined) queueMicrotask(() => cb(dead!));
      return () => deadListeners.delete(cb);
    },
    onRepunchNeeded(cb) {
      moveListeners.add(cb);
      return () => moveListeners.delete(cb);
    },
    onSwitched(cb) {
      switchListeners.add(cb);
      return () => switchListeners.delete(cb);
    },
    close(): void {
      if (closed) return;
      closed = true;
      offData();
      offLost?.();
      agent.close();
      dataListeners.clear();
      deadListeners.clear();
      moveListeners.clear();
      switchListeners.clear();
      p.onClose();
    },
    get closed() {
      return closed;
    },
  };
}
