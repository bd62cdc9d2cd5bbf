/**
 * The IPC messages between the primary and its workers (node:cluster's channel: a private pipe,
 * so the secrets in `start` never appear in argv or the environment). Every message has `t`.
 *
 *   worker → primary   hello                       its handlers are in place (Node 20 drops IPC
 *                                                  messages that arrive while an ES module loads)
 *   primary → worker   start {kind, config}        once, on hello
 *   worker → primary   ready {udp, tcp?}           listening; the primary counts it as serving
 *                      failed {code, message}      could not start (bind error, bad options)
 *   primary → worker   query {id}                  counters please
 *   worker → primary   answer {id, counters}
 *   worker → primary   lease {id, user, ip}        may I hold one more allocation? (whole-server quotas)
 *   primary → worker   leased {id, verdict}
 *   worker → primary   unlease {user, ip}          an allocation ended
 *   worker → primary   claim {id, token}           RESERVATION-TOKEN of another worker (token[0])
 *   primary → holder   release {id, token}         give that reserved port up
 *   holder → primary   released {id, port?}
 *   primary → worker   claimed {id, port?}         bind it now
 *   worker → primary   mirror {port, state?}       our allocation on relayed port is now state
 *                                                  (none: it ended); relay/server/siblings.ts
 *   primary → others   mirrored {from, port, state?}   the same, from worker `from`
 *   primary → others   mirror-forget {from}        worker `from` died: forget its allocations
 *   primary → worker   mirror-snapshot {entries}   on its `ready`: the others' allocations as
 *                                                  they stand ([from, port, state] each, in
 *                                                  chunks; mirror-cache.ts)
 *   worker → primary   forward {to, from, data}    a datagram of worker `to`'s client (base64):
 *   primary → to       forwarded {from, data}      the kernel re-hashed it after a replacement
 *   worker → primary   lookup {id, port}           whose allocation is relayed port `port`?
 *   primary → others   whose {id, port}            (asked of every other worker's registry)
 *   other → primary    mine {id, state?}           ours (state) or not (none)
 *   primary → worker   owner {id, from?, state?}   the holder, or none when all said no
 *
 * When the primary dies the channel closes: the worker stops and exits ('disconnect').
 */
import type { Endpoint } from '../../net/index.js';
import type { SiblingState } from '../../relay/server/siblings.js';
import type { LeaseVerdict } from './ledger.js';
import type { MirrorEntry } from './mirror-cache.js';

export type ToWorker =
  | { t: 'start'; kind: string; config: unknown }
  | { t: 'query'; id: number }
  | { t: 'leased'; id: number; verdict: LeaseVerdict }
  | { t: 'release'; id: number; token: string }
  | { t: 'claimed'; id: number; port?: number }
  | { t: 'mirrored'; from: number; port: number; state?: SiblingState }
  | { t: 'mirror-forget'; from: number }
  | { t: 'mirror-snapshot'; entries: MirrorEntry[] }
  | { t: 'forwarded'; from: Endpoint; data: string }
  | { t: 'whose'; id: number; port: number }
  | { t: 'owner'; id: number; from?: number; state?: SiblingState };

export type FromWorker =
  | { t: 'hello' }
  | { t: 'ready'; udp: Endpoint; tcp?: Endpoint }
  | { t: 'failed'; code: string; message: string }
  | { t: 'answer'; id: number; counters: Record<string, unknown> }
  | { t: 'lease'; id: number; user: string; ip: string }
  | { t: 'unlease'; user: string; ip: string }
  | { t: 'claim'; id: number; token: string }
  | { t: 'released'; id: number; port?: number }
  | { t: 'mirror'; port: number; state?: SiblingState }
  | { t: 'forward'; to: number; from: Endpoint; data: string }
  | { t: 'lookup'; id: number; port: number }
  | { t: 'mine'; id: number; state?: SiblingState };

export function isMessage<T extends { t: string }>(m: unknown): m is T {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';
}
