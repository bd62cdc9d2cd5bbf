/**
 * The relayed transport address of a new allocation (RFC 8656 §7.2 steps 4–5): any port, an even
 * one (EVEN-PORT), an even one with the next port reserved (EVEN-PORT R bit → RESERVATION-TOKEN),
 * or the port a RESERVATION-TOKEN holds.
 */
import type { UdpNetwork, UdpSocket } from '../../net/index.js';
import { EVEN_PORT_ATTEMPTS } from '../constants.js';
import { TurnErrorCode } from '../errors.js';
import type { ReservationExchange } from './options.js';
import type { PortReservations } from './port-reservations.js';
import { error, type ErrorReply } from './reply.js';

/** What kind of relayed port an Allocate asks for. */
export interface RelaySpec {
  even: boolean;
  reserveNext: boolean;
  token: Uint8Array | undefined;
}

export interface BoundRelay {
  socket: UdpSocket;
  /** RESERVATION-TOKEN of the next port, when EVEN-PORT had the R bit. */
  token?: Uint8Array;
}

/** Bind the relayed socket `spec` asks for on `address`; 508 when none can be had. */
export async function bindRelayedPort(
  spec: RelaySpec,
  net: UdpNetwork,
  address: string,
  reservations: PortReservations,
  exchange?: ReservationExchange,
): Promise<BoundRelay | ErrorReply> {
  if (spec.token !== undefined) {
    const socket =
      reservations.take(spec.token) ?? (await claimed(spec.token, net, address, exchange));
    if (!socket) return error(TurnErrorCode.InsufficientCapacity, 'unknown reservation');
    return { socket };
  }
  const bind = (port: number): Promise<UdpSocket> => net.bindUdp({ address, port });
  for (let i = 0; i < (spec.even ? EVEN_PORT_ATTEMPTS : 1); i++) {
    const s = await bind(0);
    const port = s.address().port;
    if (!spec.even) return { socket: s };
    if (port % 2 === 0 && !spec.reserveNext) return { socket: s };
    if (port % 2 === 0 && port < 65535) {
      const next = await bind(port + 1).catch(() => undefined);
      const token = next && reservations.reserve(next);
      if (token) return { socket: s, token };
      await next?.close();
    }
    await s.close();
  }
  return error(TurnErrorCode.InsufficientCapacity, 'no even port pair free');
}

/** A reservation held by another worker (options.ts ReservationExchange): it closes, we bind. */
async function claimed(
  token: Uint8Array,
  net: UdpNetwork,
  address: string,
  exchange: ReservationExchange | undefined,
): Promise<UdpSocket | undefined> {
  if (!exchange || token[0] === exchange.tag) return undefined;
  const port = await exchange.claim(token);
  if (port === undefined) return undefined;
  return net.bindUdp({ address, port }).catch(() => undefined);
}
