/**
 * The worker's side of the whole-server ledger (ledger.ts): an AllocationLedgerClient that asks
 * the primary over IPC. Outstanding questions are bounded by the relay's own pending Allocates
 * (each waits for one answer); without a primary (it died) every lease is refused as
 * 'server-full' (508) — this worker is about to exit anyway.
 */
import type { AllocationLedgerClient } from '../../relay/index.js';
import type { LeaseVerdict } from './ledger.js';
import { isMessage, type FromWorker, type ToWorker } from './protocol.js';

export interface IpcChannel {
  send(m: FromWorker): void;
  connected: boolean;
}

export class IpcLedgerClient implements AllocationLedgerClient {
  readonly #ipc: IpcChannel;
  readonly #waiting = new Map<number, (v: LeaseVerdict) => void>();
  #id = 0;

  constructor(ipc: IpcChannel) {
    this.#ipc = ipc;
  }

  /** Feed every message from the primary here. */
  onMessage(m: unknown): void {
    if (!isMessage<ToWorker>(m) || m.t !== 'leased') return;
    const done = this.#waiting.get(m.id);
    this.#waiting.delete(m.id);
    done?.(m.verdict);
  }

  /** The primary is gone: refuse whatever was asked. */
  disconnected(): void {
    for (const done of this.#waiting.values()) done('server-full');
    this.#waiting.clear();
  }

  acquire(user: string, ip: string): Promise<LeaseVerdict> {
    if (!this.#ipc.connected) return Promise.resolve('server-full');
    const id = ++this.#id;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.#ipc.send({ t: 'lease', id, user, ip });
    });
  }

  release(user: string, ip: string): void {
    if (this.#ipc.connected) this.#ipc.send({ t: 'unlease', user, ip });
  }
}
