/**
 * Relayed-port reservations for EVEN-PORT with the R bit (RFC 8656 §7.2 step 4, §14.6): the
 * server binds an even port for the allocation and keeps the next (odd) port bound for a while,
 * handing out an 8-byte RESERVATION-TOKEN; a later Allocate with that token gets the odd port
 * (RTP/RTCP pairs — coturn's turnutils_uclient asks for this by default).
 *
 * Bounded: at most `max` reservations; each expires after RESERVATION_LIFETIME_S and its socket
 * is closed.
 */
import { randomBytes } from 'node:crypto';
import type { UdpSocket } from '../../net/index.js';
import type { Clock, TimerHandle } from '../../util/clock.js';
import { RESERVATION_LIFETIME_S } from '../constants.js';

interface Reservation {
  socket: UdpSocket;
  timer: TimerHandle;
}

export class PortReservations {
  readonly #byToken = new Map<string, Reservation>();
  readonly #clock: Clock;
  readonly #max: number;
  readonly #tag: number | undefined;

  /** `tag`: this worker's number, in the first byte of its tokens (options.ts ReservationExchange). */
  constructor(clock: Clock, max: number, tag?: number) {
    this.#clock = clock;
    this.#max = max;
    this.#tag = tag;
  }

  get size(): number {
    return this.#byToken.size;
  }

  /** Keep `socket` for a later Allocate; returns its token, or undefined when full. */
  reserve(socket: UdpSocket): Uint8Array | undefined {
    if (this.#byToken.size >= this.#max) return undefined;
    const token = randomBytes(8);
    if (this.#tag !== undefined) token[0] = this.#tag;
    const key = token.toString('hex');
    const timer = this.#clock.setTimeout(() => {
      this.#byToken.delete(key);
      socket.close().catch(() => {});
    }, RESERVATION_LIFETIME_S * 1000);
    this.#byToken.set(key, { socket, timer });
    return token;
  }

  /** The reserved socket for `token` (removed from the table), or undefined. */
  take(token: Uint8Array): UdpSocket | undefined {
    const key = Buffer.from(token.buffer, token.byteOffset, token.length).toString('hex');
    const r = this.#byToken.get(key);
    if (!r) return undefined;
    this.#byToken.delete(key);
    r.timer.cancel();
    return r.socket;
  }

  /** Give a reservation up for another worker: its socket closed, its port number returned. */
  async release(token: Uint8Array): Promise<number | undefined> {
    const socket = this.take(token);
    if (!socket) return undefined;
    const port = socket.address().port;
    await socket.close();
    return port;
  }

  async closeAll(): Promise<void> {
    const all = [...this.#byToken.values()];
    this.#byToken.clear();
    for (const r of all) r.timer.cancel();
    await Promise.all(all.map((r) => r.socket.close()));
  }
}
