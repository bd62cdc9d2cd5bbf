/**
 * PCP (RFC 6887) MAP driver. A fresh random 96-bit nonce per mapping, kept for renewals and the
 * delete (§11.1: the nonce identifies the mapping; §15: delete = lifetime 0, same nonce). Replies
 * whose nonce is not ours are ignored (§11.3), so a stale answer to another client's request
 * cannot hand us its mapping.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../util/clock.js';
import type { UdpNetwork } from '../../net/udp.js';
import { PCP_IRT_MS, PCP_MRT_MS, PCP_SERVER_PORT } from './constants.js';
import { PORTMAP_ERR, PortmapError } from './errors.js';
import {
  decodePcpResponse,
  encodePcpAnnounceRequest,
  encodePcpMapRequest,
  PCP_OP_ANNOUNCE,
  PCP_OP_MAP,
  PCP_RESULT_NAMES,
} from './pcp-codec.js';
import type { GrantedMapping, MapRequest, PortmapDriver } from './types.js';
import { udpExchange } from './udp-exchange.js';

export interface PcpDriverOptions {
  net: UdpNetwork;
  clock: Clock;
  gateway: string;
  /** Our address on the gateway's link: the PCP client address (§8.1). Required. */
  localAddress: string;
  timeoutMs: number;
  /** ±10 % randomisation of each interval (§8.1.1); injectable for tests. Default Math.random. */
  random?: () => number;
}

export class PcpDriver implements PortmapDriver {
  readonly name = 'pcp' as const;
  constructor(private readonly o: PcpDriverOptions) {}

  /** §8.1.1: RT = (1 + RAND) · min(2 · RTprev, MRT), RAND in [-0.1, +0.1], first RT from IRT. */
  #delay = (attempt: number): number => {
    const rand = ((this.o.random ?? Math.random)() - 0.5) / 5;
    return Math.min(PCP_IRT_MS * 2 ** (attempt - 1), PCP_MRT_MS) * (1 + rand);
  };

  async #exchange(
    req: MapRequest,
    nonce: Uint8Array,
    lifetimeSec: number,
    signal: AbortSignal,
  ): Promise<GrantedMapping> {
    const socket = await this.o.net.bindUdp({ address: this.o.localAddress });
    try {
      return await udpExchange({
        socket,
        server: { address: this.o.gateway, port: PCP_SERVER_PORT },
        request: encodePcpMapRequest({
          nonce,
          protocol: req.protocol,
          internalPort: req.internalPort,
          suggestedExternalPort: req.suggestedExternalPort,
          lifetimeSec,
          clientAddress: this.o.localAddress,
        }),
        clock: this.o.clock,
        nextDelayMs: this.#delay,
        timeoutMs: this.o.timeoutMs,
        decode: (data) => {
          const r = decodePcpResponse(data);
          if (r.opcode !== PCP_OP_MAP) return undefined;
          if (r.nonce !== undefined && !sameBytes(r.nonce, nonce)) return undefined;
          if (r.resultCode !== 0) {
            throw new PortmapError(
              PORTMAP_ERR.REFUSED,
              `PCP result ${r.resultCode} ${PCP_RESULT_NAMES[r.resultCode] ?? ''}`.trim(),
            );
          }
          if (r.protocol !== req.protocol || r.internalPort !== req.internalPort) {
            throw new PortmapError(
              PORTMAP_ERR.UNEXPECTED_MAPPING,
              `PCP: asked ${req.protocol} internal port ${req.internalPort}, granted ${r.protocol} ${r.internalPort}`,
            );
          }
          if (lifetimeSec > 0 && (r.externalPort === 0 || r.externalAddress.includes(':'))) {
            throw new PortmapError(
              PORTMAP_ERR.UNEXPECTED_MAPPING,
              `PCP: granted ${r.externalAddress} port ${r.externalPort} for an IPv4 mapping`,
            );
          }
          return {
            via: 'pcp' as const,
            protocol: req.protocol,
            internalPort: req.internalPort,
            external: { address: r.externalAddress, port: r.externalPort },
            lifetimeSec: r.lifetimeSec,
            state: nonce,
          };
        },
        signal,
        what: 'PCP MAP',
      });
    } finally {
      await socket.close();
    }
  }

  async probe(signal: AbortSignal): Promise<Record<string, never>> {
    const socket = await this.o.net.bindUdp({ address: this.o.localAddress });
    try {
      await udpExchange({
        socket,
        server: { address: this.o.gateway, port: PCP_SERVER_PORT },
        request: encodePcpAnnounceRequest(this.o.localAddress),
        clock: this.o.clock,
        nextDelayMs: this.#delay,
        timeoutMs: this.o.timeoutMs,
        decode: (data) => {
          const r = decodePcpResponse(data);
          if (r.opcode !== PCP_OP_ANNOUNCE) return undefined;
          if (r.resultCode !== 0) {
            throw new PortmapError(
              PORTMAP_ERR.REFUSED,
              `PCP ANNOUNCE result ${r.resultCode} ${PCP_RESULT_NAMES[r.resultCode] ?? ''}`.trim(),
            );
          }
          return true;
        },
        signal,
        what: 'PCP ANNOUNCE',
      });
      return {};
    } finally {
      await socket.close();
    }
  }

  map(req: MapRequest, signal: AbortSignal, previous?: GrantedMapping): Promise<GrantedMapping> {
    const nonce = previous?.state instanceof Uint8Array ? previous.state : randomBytes(12);
    return this.#exchange(req, nonce, req.lifetimeSec, signal);
  }

  async unmap(m: GrantedMapping, signal: AbortSignal): Promise<void> {
    if (!(m.state instanceof Uint8Array)) throw new TypeError('not a PCP mapping');
    await this.#exchange(
      {
        protocol: m.protocol,
        internalPort: m.internalPort,
        suggestedExternalPort: 0,
        lifetimeSec: 0,
      },
      m.state,
      0,
      signal,
    );
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
