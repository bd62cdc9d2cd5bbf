/**
 * One request/response exchange with a NAT-PMP/PCP server over UDP, retransmitted on the
 * protocol's schedule (RFC 6886 §3.1, RFC 6887 §8.1.1) until an answer, the deadline or abort.
 * Answers from anywhere but the server's address and port are ignored (RFC 6886 §3.1, RFC 6887
 * §8.3: a client must check the source), so another host on the LAN cannot forge a mapping.
 */
import type { Clock, TimerHandle } from '../../util/clock.js';
import { sameEndpoint, type Endpoint, type UdpSocket } from '../../net/udp.js';
import { PORTMAP_ERR, PortmapError } from './errors.js';

export interface ExchangeOptions<T> {
  socket: UdpSocket;
  server: Endpoint;
  request: Uint8Array;
  clock: Clock;
  /** Delay before retransmission number `attempt` (1-based); undefined = no more sends. */
  nextDelayMs: (attempt: number) => number | undefined;
  /** Give up (TIMEOUT) after this long, whatever the schedule says. */
  timeoutMs: number;
  /**
   * Looks at an answer: a value ends the exchange, undefined ignores the datagram (e.g. a PCP
   * nonce that is not ours), a thrown PortmapError ends it with that error.
   */
  decode: (data: Uint8Array) => T | undefined;
  signal?: AbortSignal;
  /** For the error message. */
  what: string;
}

export function udpExchange<T>(o: ExchangeOptions<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let attempt = 0;
    let retransmit: TimerHandle | undefined;
    let done = false;
    const finish = (err: unknown, value?: T): void => {
      if (done) return;
      done = true;
      retransmit?.cancel();
      deadline.cancel();
      off();
      o.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(value as T);
    };
    const send = (): void => {
      if (done) return;
      o.socket.send(o.request, o.server);
      attempt++;
      const next = o.nextDelayMs(attempt);
      if (next !== undefined) retransmit = o.clock.setTimeout(send, next);
    };
    const off = o.socket.onMessage((data, from) => {
      if (!sameEndpoint(from, o.server)) return;
      try {
        const v = o.decode(data);
        if (v !== undefined) finish(undefined, v);
      } catch (e) {
        finish(e);
      }
    });
    const deadline = o.clock.setTimeout(
      () =>
        finish(new PortmapError(PORTMAP_ERR.TIMEOUT, `${o.what}: no answer in ${o.timeoutMs} ms`)),
      o.timeoutMs,
    );
    const onAbort = (): void => finish(new PortmapError(PORTMAP_ERR.CLOSED, `${o.what}: aborted`));
    if (o.signal?.aborted) return onAbort();
    o.signal?.addEventListener('abort', onAbort);
    send();
  });
}
