/**
 * RESERVATION-TOKENs across workers (relay options.ts ReservationExchange): turnutils_uclient and
 * other RTP/RTCP clients allocate an even port with the R bit from one 5-tuple and claim the
 * reserved odd port from ANOTHER 5-tuple, which SO_REUSEPORT may hash to another worker. The
 * token's first byte names the holder (its worker index); the claimer asks through the primary,
 * the holder closes the reserved socket and says its port, the claimer binds it. Between the
 * close and the bind another program could take the port: the Allocate then gets 508, as when a
 * reservation expired.
 *
 * Outstanding claims are bounded by the relay's pending Allocates (one claim each).
 */
import type { ReservationExchange } from '../../relay/index.js';
import type { IpcChannel } from './ledger-client.js';
import { isMessage, type ToWorker } from './protocol.js';

const hex = (b: Uint8Array): string =>
  Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

export class IpcReservationExchange implements ReservationExchange {
  readonly tag: number;
  readonly #ipc: IpcChannel;
  readonly #waiting = new Map<number, (port: number | undefined) => void>();
  #release: ((token: Uint8Array) => Promise<number | undefined>) | undefined;
  #id = 0;

  constructor(ipc: IpcChannel, tag: number) {
    if (!Number.isInteger(tag) || tag < 0 || tag > 255) throw new RangeError('tag must be 0..255');
    this.#ipc = ipc;
    this.tag = tag;
  }

  serve(release: (token: Uint8Array) => Promise<number | undefined>): void {
    this.#release = release;
  }

  claim(token: Uint8Array): Promise<number | undefined> {
    if (!this.#ipc.connected) return Promise.resolve(undefined);
    const id = ++this.#id;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.#ipc.send({ t: 'claim', id, token: hex(token) });
    });
  }

  /** Feed every message from the primary here. */
  onMessage(m: unknown): void {
    if (!isMessage<ToWorker>(m)) return;
    if (m.t === 'claimed') {
      const done = this.#waiting.get(m.id);
      this.#waiting.delete(m.id);
      done?.(m.port);
    } else if (m.t === 'release') {
      const release = this.#release;
      const answer = (port: number | undefined): void => {
        if (this.#ipc.connected)
          this.#ipc.send({ t: 'released', id: m.id, ...(port !== undefined ? { port } : {}) });
      };
      if (!release) return answer(undefined);
      release(Buffer.from(m.token, 'hex')).then(answer, () => answer(undefined));
    }
  }

  disconnected(): void {
    for (const done of this.#waiting.values()) done(undefined);
    this.#waiting.clear();
  }
}
