/**
 * The peer's ONE UDP socket, told apart by the first byte (RFC 7983 §7, RFC 9443 §3):
 *
 *   first byte   what                                   goes to
 *   0–3          STUN (+ magic cookie)  request         connectivity checks (the agent whose
 *                                                       ufrag is in USERNAME)
 *                                     response         the transaction engine (checks, srflx)
 *                                     indication       ignored (keepalives need no answer)
 *   64–79        TURN ChannelData                      the TurnClient (it listens on the socket
 *                                                       itself, from its server only)
 *   192–207      natpush session datagram (0xC0–0xCF)  the path that owns that remote
 *   anything else                                      dropped, counted
 *
 * Datagrams relayed by TURN arrive here a second time, unwrapped, through `dispatch(…, 'relay')`,
 * so a check or a session datagram is handled the same whichever way it came.
 */
import type { Endpoint, UdpSocket } from '../net/udp.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';

/** How a datagram reached us: straight on the socket, or unwrapped from the TURN relay. */
export type Via = 'socket' | 'relay';

export type PacketClass =
  'stun-request' | 'stun-response' | 'stun-indication' | 'channel-data' | 'session' | 'other';

/** RFC 7983 first-byte classification plus, for STUN, the class bits of the message type. */
export function classifyPacket(b: Uint8Array): PacketClass {
  const b0 = b[0];
  if (b0 === undefined) return 'other';
  if (b0 <= 3) {
    // RFC 8489 §5: magic cookie 0x2112A442 in bytes 4–7; 20-byte header at least.
    if (b.length < 20 || b[4] !== 0x21 || b[5] !== 0x12 || b[6] !== 0xa4 || b[7] !== 0x42)
      return 'other';
    // Class bits C1 (0x0100 of the type) and C0 (0x0010): 00 request, 01 indication,
    // 10 success, 11 error.
    const c1 = b0 & 0x01;
    const c0 = (b[1]! >> 4) & 0x01;
    if (c1 === 1) return 'stun-response';
    return c0 === 1 ? 'stun-indication' : 'stun-request';
  }
  if (b0 >= 64 && b0 <= 79) return 'channel-data';
  if (b0 >= 0xc0 && b0 <= 0xcf) return 'session';
  return 'other';
}

export type DemuxListener = (data: Uint8Array, from: Endpoint, via: Via) => void;

type Routed = Exclude<PacketClass, 'other' | 'channel-data' | 'stun-indication'>;

export interface DemuxStats {
  stunRequests: number;
  stunResponses: number;
  session: number;
  ignored: number;
}

export class SocketDemux {
  readonly stats: DemuxStats = { stunRequests: 0, stunResponses: 0, session: 0, ignored: 0 };
  readonly socket: UdpSocket;
  readonly #logger: Logger;
  readonly #listeners: Record<Routed, DemuxListener[]> = {
    'stun-request': [],
    'stun-response': [],
    session: [],
  };
  readonly #off: () => void;

  constructor(socket: UdpSocket, options: { logger?: Logger } = {}) {
    this.socket = socket;
    this.#logger = options.logger ?? silentLogger;
    this.#off = socket.onMessage((data, from) => this.dispatch(data, from, 'socket'));
  }

  /** Listen to one class; returns the unsubscribe function. Listeners must not throw. */
  on(cls: Routed, listener: DemuxListener): () => void {
    this.#listeners[cls] = [...this.#listeners[cls], listener];
    return () => {
      this.#listeners[cls] = this.#listeners[cls].filter((l) => l !== listener);
    };
  }

  /** Route one datagram (also used for payloads the TURN relay unwrapped). */
  dispatch(data: Uint8Array, from: Endpoint, via: Via): void {
    const cls = classifyPacket(data);
    switch (cls) {
      case 'stun-request':
        this.stats.stunRequests++;
        return this.#emit(cls, data, from, via);
      case 'stun-response':
        this.stats.stunResponses++;
        return this.#emit(cls, data, from, via);
      case 'session':
        this.stats.session++;
        return this.#emit(cls, data, from, via);
      case 'channel-data':
        // The TurnClient on this socket takes ChannelData from its server itself.
        return;
      default:
        this.stats.ignored++;
    }
  }

  /** Stop listening to the socket (the socket stays open: its owner closes it). */
  close(): void {
    this.#off();
  }

  #emit(cls: Routed, data: Uint8Array, from: Endpoint, via: Via): void {
    for (const l of this.#listeners[cls]) {
      try {
        l(data, from, via);
      } catch (err) {
        this.#logger.error('demux listener threw', { cls, err: String(err) });
      }
    }
  }
}
