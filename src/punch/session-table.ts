/**
 * The punches a connector runs (bounded by PUNCH_LIMITS.maxSessions), by rid and by our ufrag,
 * and the routing of what arrives on the socket to them: a check to the session whose ufrag it
 * names (kept for a moment if its agent is not built yet), a response screened by every agent
 * (a forged one is dropped before the transaction engine sees it), session datagrams from a
 * remote that proved itself kept until our selection.
 */
import type { Endpoint } from '../net/udp.js';
import { decodeStunMessage, type StunMessage } from '../stun/message.js';
import type { IceCredentials, Role } from './check-message.js';
import { checkTarget } from './check-message.js';
import { PUNCH_LIMITS } from './constants.js';
import type { Via } from './demux.js';
import { PUNCH_ERR, PunchError } from './errors.js';
import { MAX_EARLY_CHECKS, MAX_EARLY_DATA, type Session } from './punch-session.js';

function decode(data: Uint8Array): StunMessage | undefined {
  try {
    return decodeStunMessage(data);
  } catch {
    return undefined;
  }
}

/** Ended rids remembered (SessionTable #ended): a few signaling round trips of ended punches. */
export const MAX_ENDED_RIDS = 4 * PUNCH_LIMITS.maxSessions;

export class SessionTable {
  readonly #byRid = new Map<string, Session>();
  readonly #byUfrag = new Map<string, Session>();
  /**
   * Rids of punches that ended here, newest last: a frame of one still on its way (the other
   * side's candidates crossing our abort or its punch-end) is not a new punch toward us — taken
   * for one, it started a session the other side never ran, and answered, a punch there under
   * the ended rid (punch-end.test.ts). Bound: MAX_ENDED_RIDS, oldest dropped; such a frame
   * arrives within a signaling round trip of the end.
   */
  readonly #ended = new Set<string>();

  get(rid: string): Session | undefined {
    return this.#byRid.get(rid);
  }

  values(): IterableIterator<Session> {
    return this.#byRid.values();
  }

  add(peer: string, rid: string, role: Role, local: IceCredentials): Session {
    if (this.#byRid.size >= PUNCH_LIMITS.maxSessions)
      throw new PunchError(PUNCH_ERR.OVERLOADED, `more than ${PUNCH_LIMITS.maxSessions} punches`);
    const s: Session = {
      rid,
      peer,
      role,
      initiator: role === 'controlling',
      local,
      agent: undefined,
      early: [],
      earlyData: [],
    };
    this.#byRid.set(rid, s);
    this.#byUfrag.set(s.local.ufrag, s);
    return s;
  }

  end(s: Session): void {
    if (this.#byRid.get(s.rid) === s) {
      this.#byRid.delete(s.rid);
      this.#ended.add(s.rid);
      if (this.#ended.size > MAX_ENDED_RIDS) this.#ended.delete(this.#ended.values().next().value!);
    }
    if (this.#byUfrag.get(s.local.ufrag) === s) this.#byUfrag.delete(s.local.ufrag);
  }

  /** A punch of this rid ended here recently (its late frames start nothing). */
  ended(rid: string): boolean {
    return this.#ended.has(rid);
  }

  /** A punch with `peer` that has not ended nor selected a pair yet (one to join). */
  runningWith(peer: string): Session | undefined {
    for (const s of this.#byRid.values())
      if (s.peer === peer && s.path && !s.agent?.selected && !s.sideSelected) return s;
    return undefined;
  }

  /** Our own punch toward `peer` that has not selected a pair yet. */
  ownPending(peer: string): Session | undefined {
    for (const s of this.#byRid.values())
      if (s.peer === peer && s.initiator && !s.merged && !s.agent?.selected && !s.sideSelected)
        return s;
    return undefined;
  }

  routeRequest(data: Uint8Array, from: Endpoint, via: Via): void {
    const msg = decode(data);
    if (!msg) return;
    const ufrag = checkTarget(msg);
    const s = ufrag === undefined ? undefined : this.#byUfrag.get(ufrag);
    if (!s) return;
    if (s.agent) return s.agent.handleRequest(msg, from, via);
    // RFC 8445 §7.3.1.4-like: the remote started before our agent exists; keep a few.
    if (s.early.length < MAX_EARLY_CHECKS) s.early.push({ msg, from, via });
  }

  /** 'forged': an answer to one of our checks that does not verify (drop it); else 'pass'. */
  screenResponse(data: Uint8Array): 'forged' | 'pass' {
    const msg = decode(data);
    if (!msg) return 'forged'; // the engine could not match it either
    for (const s of this.#byRid.values()) {
      const verdict = s.agent?.screenResponse(msg);
      if (verdict === 'forged') return 'forged';
      if (verdict === 'mine') break;
    }
    return 'pass';
  }

  /** Keep datagrams from a remote that proved itself with a check, until we select (bounded). */
  keepEarlyData(data: Uint8Array, from: Endpoint, via: Via): void {
    for (const s of this.#byRid.values()) {
      const a = s.agent;
      if (!a || a.selected || !a.heardFrom(from, via)) continue;
      if (s.earlyData.length < MAX_EARLY_DATA)
        s.earlyData.push({ data: Uint8Array.from(data), from, via });
      return;
    }
  }
}
