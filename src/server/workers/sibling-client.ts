/**
 * The worker's side of the sibling mirrors (relay server/siblings.ts): a SiblingExchange over
 * node:cluster IPC. The worker publishes its allocations' state to the primary (`mirror`), which
 * passes it to every other worker (`mirrored`, with the sender's index) and, when a worker dies,
 * tells the others to forget its allocations (`mirror-forget`); when this worker starts it gets the
 * others' allocations as they stand (`mirror-snapshot`, workers/mirror-cache.ts; held until its
 * server serves, hold()). Those messages
 * flow at control-plane events only (siblings.ts), never per packet.
 *
 * Two more services, both through the primary (protocol.ts):
 * - `forward`: a datagram of another worker's client that the kernel delivered here after the
 *   SO_REUSEPORT group changed (a worker replaced) goes to that worker. Per packet, but only for
 *   such clients, and bounded by the server (relay constants.ts OWNER_HANDOFF_BYTES_PER_SECOND).
 * - `lookup`: whose allocation a relayed port is, asked of the other workers' registries (the
 *   mirror lags an Allocate by one IPC hop). At most MAX_SIBLING_LOOKUPS in flight (the server
 *   asks only for ports of ours it does not know); each ends when the primary answers (it does
 *   once every asked worker answered or died) or after WORKER_QUERY_TIMEOUT_MS.
 */
import type { Endpoint } from '../../net/index.js';
import { MAX_SIBLING_LOOKUPS } from '../../relay/constants.js';
import type {
  SiblingExchange,
  SiblingServices,
  SiblingState,
} from '../../relay/server/siblings.js';
import { WORKER_QUERY_TIMEOUT_MS } from './constants.js';
import { MirrorCache } from './mirror-cache.js';
import type { IpcChannel } from './ledger-client.js';
import { isMessage, type ToWorker } from './protocol.js';

type Apply = (from: number, port: number, state: SiblingState | undefined) => void;
type Found = [number, SiblingState] | undefined;

export class IpcSiblingExchange implements SiblingExchange {
  readonly #ipc: IpcChannel;
  #apply: Apply | undefined;
  #forget: ((from: number) => void) | undefined;
  #services: SiblingServices | undefined;
  /** What arrives before the server serves (hold()), kept by the mirror-cache rules. */
  #early: MirrorCache | undefined;
  /** Lookups in flight, by id (at most MAX_SIBLING_LOOKUPS). */
  readonly #lookups = new Map<number, (v: Found) => void>();
  #lookupId = 0;

  constructor(ipc: IpcChannel) {
    this.#ipc = ipc;
  }

  publish(port: number, state: SiblingState | undefined): void {
    if (this.#ipc.connected) this.#ipc.send({ t: 'mirror', port, ...(state ? { state } : {}) });
  }

  /**
   * Keep the updates that arrive before the server serves (at most `max` allocations: the whole
   * server's --max-allocations). The primary sends the others' allocations right after `start`,
   * so the server has them when it binds the shared port: a replacement may be handed another
   * worker's clients by the kernel from its first datagram on.
   */
  hold(max: number): void {
    this.#early = new MirrorCache(max);
  }

  serve(apply: Apply, forget: (from: number) => void, services?: SiblingServices): void {
    this.#apply = apply;
    this.#forget = forget;
    this.#services = services;
    const early = this.#early;
    this.#early = undefined;
    for (const chunk of early?.snapshot(-1, Date.now()) ?? []) {
      for (const [from, port, state] of chunk) apply(from, port, state);
    }
  }

  #set(from: number, port: number, state: SiblingState | undefined): void {
    if (this.#apply !== undefined) this.#apply(from, port, state);
    else this.#early?.set(from, port, state);
  }

  forward(owner: number, from: Endpoint, data: Uint8Array): void {
    if (!this.#ipc.connected) return;
    const b64 = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
    this.#ipc.send({
      t: 'forward',
      to: owner,
      from: { address: from.address, port: from.port },
      data: b64,
    });
  }

  lookup(port: number): Promise<Found> {
    if (!this.#ipc.connected || this.#lookups.size >= MAX_SIBLING_LOOKUPS) {
      return Promise.resolve(undefined);
    }
    const id = ++this.#lookupId;
    return new Promise<Found>((resolve) => {
      const timer = setTimeout(() => done(undefined), WORKER_QUERY_TIMEOUT_MS);
      timer.unref();
      const done = (v: Found): void => {
        clearTimeout(timer);
        this.#lookups.delete(id);
        resolve(v);
      };
      this.#lookups.set(id, done);
      this.#ipc.send({ t: 'lookup', id, port });
    });
  }

  /** The primary is gone: every lookup in flight finds nothing. */
  disconnected(): void {
    for (const done of [...this.#lookups.values()]) done(undefined);
  }

  /** Feed every message from the primary here. */
  onMessage(m: unknown): void {
    if (!isMessage<ToWorker>(m)) return;
    if (m.t === 'mirrored') this.#set(m.from, m.port, m.state);
    else if (m.t === 'mirror-forget') {
      this.#forget?.(m.from);
      this.#early?.forget(m.from);
    } else if (m.t === 'mirror-snapshot') {
      for (const [from, port, state] of m.entries) this.#set(from, port, state);
    } else if (m.t === 'forwarded') {
      this.#services?.received(m.from, Buffer.from(m.data, 'base64'));
    } else if (m.t === 'whose') {
      const state = this.#services?.stateOf(m.port);
      if (this.#ipc.connected) this.#ipc.send({ t: 'mine', id: m.id, ...(state ? { state } : {}) });
    } else if (m.t === 'owner') {
      const found: Found =
        m.from !== undefined && m.state !== undefined ? [m.from, m.state] : undefined;
      this.#lookups.get(m.id)?.(found);
    }
  }
}
