/**
 * The store's Lua scripts (redis-scripts.ts) as typed commands on the cluster's connection
 * (ioredis `defineCommand`: EVALSHA, falling back to EVAL once per script), and what their
 * replies mean. Every script takes its keys' prefix as the first argument and names its keys
 * itself (numberOfKeys 0): one primary Redis, not Redis Cluster (cluster-node.ts).
 */
import type { Redis } from 'ioredis';
import {
  COMMIT_LUA,
  CLAIM_LUA,
  EXPIRE_LUA,
  EXPIRE_PEERS_LUA,
  LOAD_LUA,
  REGISTER_LUA,
  RELEASE_LUA,
} from './redis-scripts.js';
import type { StoreQuotas } from './usage.js';

/** One accepted notification's outcome: inserted/duplicate (seq, online) or refused (code, which). */
export type Outcome = ['i' | 'd', number, number] | ['r', string, string];
/** COMMIT_LUA: outcomes, removed `[to, id, from, node]`, the store's total after. */
export type CommitReply = [Outcome[], [string, string, string, string][], number];
/** CLAIM_LUA / LOAD_LUA: `[seq, value]*, more`. */
export type LoadReply = (string | number)[];

type Arg = string | number;

export interface StoreCommands {
  npCommit(...a: Arg[]): Promise<CommitReply>;
  npClaim(...a: Arg[]): Promise<LoadReply>;
  npLoad(...a: Arg[]): Promise<LoadReply>;
  npRelease(...a: Arg[]): Promise<unknown>;
  npExpire(...a: Arg[]): Promise<[number, number]>;
  /** EXPIRE_PEERS_LUA: notifications deleted, the peers deleted, the store's total after. */
  npExpirePeers(...a: Arg[]): Promise<[number, string[], number]>;
  /** REGISTER_LUA: 1, or 0 when refused at the cap. */
  npRegister(...a: Arg[]): Promise<number>;
}

/** Define the scripts on `redis` (idempotent per connection) and return it, typed. */
export function storeCommands(redis: Redis): StoreCommands {
  redis.defineCommand('npCommit', { numberOfKeys: 0, lua: COMMIT_LUA });
  redis.defineCommand('npClaim', { numberOfKeys: 0, lua: CLAIM_LUA });
  redis.defineCommand('npLoad', { numberOfKeys: 0, lua: LOAD_LUA });
  redis.defineCommand('npRelease', { numberOfKeys: 0, lua: RELEASE_LUA });
  redis.defineCommand('npExpire', { numberOfKeys: 0, lua: EXPIRE_LUA });
  redis.defineCommand('npExpirePeers', { numberOfKeys: 0, lua: EXPIRE_PEERS_LUA });
  redis.defineCommand('npRegister', { numberOfKeys: 0, lua: REGISTER_LUA });
  return redis as unknown as StoreCommands;
}

/** The message of a commit's refusal `code`; `which`: the quota hit, the peer senders' share ('peer') or all. */
export const REFUSAL_TEXT: Record<string, (to: string, which: string, q: StoreQuotas) => string> = {
  NATPUSH_ERR_UNKNOWN_PEER: (to) => `peer ${to} has never registered here`,
  NATPUSH_ERR_STORE_QUOTA: (_to, which, q) =>
    `the server's mailbox store is full (${which === 'peer' ? 'peer share of ' : ''}quota ${q.maxNotifications} notifications / ${q.maxBytes} bytes); retry later`,
  NATPUSH_ERR_MAILBOX_FULL: (to, which) =>
    which === 'peer'
      ? `mailbox of ${to} is full for peers; retry after it drains`
      : `mailbox of ${to} is full; retry after it drains`,
  NATPUSH_ERR_SENDER_QUOTA: (to, _w, q) =>
    `you already have ${q.perPeerSenderSlots} notifications waiting in the mailbox of ${to}; retry after it drains`,
};
