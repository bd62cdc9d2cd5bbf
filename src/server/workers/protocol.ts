/**
 * The IPC messages between the primary and its workers (node:cluster's channel: a private pipe,
 * so the secrets in `start` never appear in argv or the environment). Every message has `t`.
 *
 *   primary → worker   start {kind, config}        once, right after fork
 *   worker → primary   ready {udp, tcp?}           listening; the primary counts it as serving
 *                      failed {code, message}      could not start (bind error, bad options)
 *   primary → worker   query {id}                  counters please
 *   worker → primary   answer {id, counters}
 *   worker → primary   lease {id, user, ip}        may I hold one more allocation? (whole-server quotas)
 *   primary → worker   leased {id, verdict}
 *   worker → primary   unlease {user, ip}          an allocation ended
 *
 * When the primary dies the channel closes: the worker stops and exits ('disconnect').
 */
import type { Endpoint } from '../../net/index.js';
import type { LeaseVerdict } from './ledger.js';

export type ToWorker =
  | { t: 'start'; kind: string; config: unknown }
  | { t: 'query'; id: number }
  | { t: 'leased'; id: number; verdict: LeaseVerdict };

export type FromWorker =
  | { t: 'ready'; udp: Endpoint; tcp?: Endpoint }
  | { t: 'failed'; code: string; message: string }
  | { t: 'answer'; id: number; counters: Record<string, unknown> }
  | { t: 'lease'; id: number; user: string; ip: string }
  | { t: 'unlease'; user: string; ip: string };

export function isMessage<T extends { t: string }>(m: unknown): m is T {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';
}
