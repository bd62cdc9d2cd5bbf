/**
 * The Outbox's pending notification and its options (outbox.ts), apart so that file stays one
 * concept: the notifications on their way out and their outcomes.
 */
import type { Identity } from '../signaling/identity.js';
import type { ClientMessage } from '../signaling/protocol.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { LinkTable } from './link-table.js';
import type { Lane } from './outbox-room.js';
import type { DeliveryPath, NotifyResult } from './peer-types.js';

export interface PendingNotify {
  ref: string;
  id: string;
  to: string;
  topic: string | undefined;
  body: string;
  ttl: number | undefined;
  /** The sealed frame, once the recipient's key is known (resent after every reconnect). */
  frame?: Extract<ClientMessage, { type: 'notify' }>;
  started: number;
  deliveryTimeoutMs: number;
  accepted?: { online: boolean; duplicate: boolean };
  timer?: TimerHandle;
  /** Notify order: waiting notifications go to the channel in this order. */
  seq: number;
  /** Set while it waits for room in the recipient's session channel (outbox-room.ts). */
  lane?: Lane<PendingNotify>;
  resolve: (r: NotifyResult) => void;
  reject: (e: unknown) => void;
  /**
   * `timeoutMs`'s timer and `signal`'s listener, undone on settle. Fields rather than a cleanup
   * closure: a flood with neither made two closures per notification for nothing (GC was ~14 %
   * of a 100-byte direct flood sender's CPU).
   */
  acceptTimer: TimerHandle | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

export interface OutboxOptions {
  /** Refs for `notify` frames, from the Peer's one counter (its turn and key requests use it
   *  too, so an `error` frame's ref names one request only). */
  nextRef: () => string;
  identity: Identity;
  clock: Clock;
  logger: Logger;
  /** Session paths at all (`direct`); without, only the sealed server rungs. */
  direct: boolean;
  links: () => LinkTable;
  /** The recipient's verified Ed25519 key (key-directory.ts). */
  remoteKey: (peer: string) => Promise<string>;
  sendFrame: (f: Extract<ClientMessage, { type: 'notify' }>) => boolean;
  noteContact: (peer: string) => void;
  /** The path to a recipient changed (the Peer's `path` event). */
  onPath: (e: { peer: string; path: DeliveryPath; reason?: string }) => void;
}
