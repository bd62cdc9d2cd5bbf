/**
 * The worker's side of the sibling mirrors (relay server/siblings.ts): a SiblingExchange over
 * node:cluster IPC. The worker publishes its allocations' state to the primary (`mirror`), which
 * passes it to every other worker (`mirrored`, with the sender's index) and, when a worker dies,
 * tells the others to forget its allocations (`mirror-forget`); when this worker starts it gets the
 * others' allocations as they stand (`mirror-snapshot`, workers/mirror-cache.ts). Messages flow at
 * control-plane events only (siblings.ts), never per packet.
 */
import type { SiblingExchange, SiblingState } from '../../relay/server/siblings.js';
import type { IpcChannel } from './ledger-client.js';
import { isMessage, type ToWorker } from './protocol.js';

type Apply = (from: number, port: number, state: SiblingState | undefined) => void;

export class IpcSiblingExchange implements SiblingExchange {
  readonly #ipc: IpcChannel;
  #apply: Apply | undefined;
  #forget: ((from: number) => void) | undefined;

  constructor(ipc: IpcChannel) {
    this.#ipc = ipc;
  }

  publish(port: number, state: SiblingState | undefined): void {
    if (this.#ipc.connected) this.#ipc.send({ t: 'mirror', port, ...(state ? { state } : {}) });
  }

  serve(apply: Apply, forget: (from: number) => void): void {
    this.#apply = apply;
    this.#forget = forget;
  }

  /** Feed every message from the primary here. */
  onMessage(m: unknown): void {
    if (!isMessage<ToWorker>(m)) return;
    if (m.t === 'mirrored') this.#apply?.(m.from, m.port, m.state);
    else if (m.t === 'mirror-forget') this.#forget?.(m.from);
    else if (m.t === 'mirror-snapshot') {
      for (const [from, port, state] of m.entries) this.#apply?.(from, port, state);
    }
  }
}
