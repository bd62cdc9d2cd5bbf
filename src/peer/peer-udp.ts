/**
 * The network of a `Peer`'s (peer.ts) UDP sockets — its punch socket and the sockets its
 * direct-path helpers open — from its options (`udp`, `udpIo`, `direct`), checked at the edge
 * (STYLE.md §5).
 */
import { nodeUdpNetwork } from '../net/node-udp.js';
import { selectUdpNetwork, type UdpIo } from '../net/mmsg-network.js';
import type { UdpNetwork } from '../net/udp.js';
import type { Logger } from '../util/logger.js';
import type { PeerOptions } from './peer-types.js';

/**
 * `PeerOptions.udpIo` when not given: batched. Measured (bench/direct-throughput.ts --messages
 * 150000 --udp-io mmsg,dgram, A B B A, netsim lab, load 6.6–8.6 on 2 cores; means of 2): 1,000-B
 * notifications 20,032 msg/s on mmsg against 10,912 on node:dgram (0.52 / 0.28 of raw UDP),
 * CPU per message sender 28.6 / 37.1 µs, receiver 16.2 / 23.5 µs, ack datagrams 6,642 / 16,548;
 * 100 B 35,451 / 25,533 msg/s, 13.0 / 16.2 µs and 8.1 / 10.6 µs, acks 2,017 / 6,222.
 */
export const PEER_UDP_IO_DEFAULT: UdpIo = 'mmsg';

/**
 * The real network of a Peer's UDP sockets as `udpIo` says. Copies, never lent views: what the
 * socket's listeners receive is kept past the call (out-of-order session payloads, check answers
 * held while a punch settles, STUN responses resolving promises).
 */
function peerUdpNetwork(udpIo: UdpIo | undefined, logger: Logger): UdpNetwork {
  const net = selectUdpNetwork(udpIo ?? PEER_UDP_IO_DEFAULT, { logger, lendViews: false });
  // What it got (mmsg asked for may be node:dgram): for the operator and the netsim tests.
  logger.info('direct-path UDP I/O', { udpIo: net === nodeUdpNetwork ? 'dgram' : 'mmsg' });
  return net;
}

/** `udpIo` is one of the two, or not given; throws TypeError (Peer.open, before anything opens). */
export function checkUdpIo(udpIo: UdpIo | undefined): void {
  if (udpIo !== undefined && udpIo !== 'mmsg' && udpIo !== 'dgram')
    throw new TypeError(`udpIo must be 'mmsg' or 'dgram', got ${String(udpIo)}`);
}

/**
 * The network of the punch layer's sockets: `udp` when given (tests inject a MemoryNetwork),
 * else the real one as `udpIo` says — or plain node:dgram, not logged, when `direct` is false
 * (the punch layer is then disabled).
 */
export function peerUdp(o: PeerOptions, direct: boolean, logger: Logger): UdpNetwork {
  return o.udp ?? (direct ? peerUdpNetwork(o.udpIo, logger) : nodeUdpNetwork);
}
