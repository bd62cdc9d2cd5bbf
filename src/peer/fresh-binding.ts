/**
 * One-shot STUN bindings from fresh sockets, for the port prediction (prediction-layer.ts): a
 * fresh socket's first mapping is where a sequential NAT's counter is now, and the RFC 5780
 * filtering probe needs a socket that asked serve's STUN once. A lost binding means no
 * prediction (or no filtering answer), not a retry loop.
 */
import type { Endpoint, UdpNetwork } from '../net/udp.js';
import { StunClient } from '../stun/client.js';
import { DISCOVERY_DEFAULTS } from '../stun/constants.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';

/** One binding's wait; a lost one means no prediction, not a retry loop. */
export const MEASURE_TIMEOUT_MS = 2_000;

export interface FreshBindingOptions {
  net: UdpNetwork;
  clock: Clock;
  logger: Logger;
}

export interface FilteringSocket {
  client: StunClient;
  mapped: Endpoint;
  close: () => Promise<void>;
}

/** One fresh socket's mapping toward `server` (the counter's position now), or undefined. */
export async function bindOnce(
  o: FreshBindingOptions,
  server: Endpoint,
): Promise<number | undefined> {
  let socket: Awaited<ReturnType<UdpNetwork['bindUdp']>> | undefined;
  let client: StunClient | undefined;
  try {
    socket = await o.net.bindUdp({ port: 0 });
    client = new StunClient({ socket, clock: o.clock });
    return (await client.binding(server, { timeoutMs: MEASURE_TIMEOUT_MS })).mapped.port;
  } catch (err) {
    o.logger.debug('no binding for port prediction', { err: String(err) });
    return undefined;
  } finally {
    client?.close();
    await socket?.close();
  }
}

/** A fresh socket that asked serve's STUN (A1:P1) once: the filtering probe's (nat-filtering.ts). */
export async function filteringSocket(
  o: FreshBindingOptions,
  server: Endpoint,
): Promise<FilteringSocket | undefined> {
  const socket = await o.net.bindUdp({ port: 0 });
  const client = new StunClient({
    socket,
    clock: o.clock,
    retransmission: DISCOVERY_DEFAULTS.retransmission,
  });
  const close = async (): Promise<void> => {
    client.close();
    await socket.close();
  };
  try {
    const r = await client.binding(server, { timeoutMs: MEASURE_TIMEOUT_MS });
    return { client, mapped: r.mapped, close };
  } catch (err) {
    o.logger.debug('no filtering probe', { err: String(err) });
    await close();
    return undefined;
  }
}
