/**
 * NAT-PMP (RFC 6886) driver: ask the gateway its external address (§3.2), then for a mapping
 * (§3.3); delete by mapping with lifetime 0 (§3.4). Each exchange uses a fresh socket, which the
 * server does not care about: the internal port is in the request, the internal address is the
 * packet's source.
 */
import type { Clock } from '../../util/clock.js';
import type { UdpNetwork } from '../../net/udp.js';
import { NATPMP_INITIAL_RTO_MS, NATPMP_MAX_ATTEMPTS, PCP_SERVER_PORT } from './constants.js';
import { PORTMAP_ERR, PortmapError } from './errors.js';
import {
  decodeNatpmpResponse,
  encodeNatpmpAddressRequest,
  encodeNatpmpMapRequest,
  type NatpmpResponse,
} from './natpmp-codec.js';
import type { GrantedMapping, MapRequest, PortmapDriver } from './types.js';
import { udpExchange } from './udp-exchange.js';

export interface NatpmpDriverOptions {
  net: UdpNetwork;
  clock: Clock;
  gateway: string;
  /** Our address on the gateway's link (the socket is bound to it). */
  localAddress?: string;
  timeoutMs: number;
}

/** RFC 6886 §3.1: 250 ms, doubling, at most 9 sends. */
function natpmpDelay(attempt: number): number | undefined {
  return attempt < NATPMP_MAX_ATTEMPTS ? NATPMP_INITIAL_RTO_MS * 2 ** (attempt - 1) : undefined;
}

export class NatpmpDriver implements PortmapDriver {
  readonly name = 'natpmp' as const;
  constructor(private readonly o: NatpmpDriverOptions) {}

  async #ask(request: Uint8Array, signal: AbortSignal, what: string): Promise<NatpmpResponse> {
    const socket = await this.o.net.bindUdp(
      this.o.localAddress ? { address: this.o.localAddress } : {},
    );
    try {
      return await udpExchange({
        socket,
        server: { address: this.o.gateway, port: PCP_SERVER_PORT },
        request,
        clock: this.o.clock,
        nextDelayMs: natpmpDelay,
        timeoutMs: this.o.timeoutMs,
        decode: decodeNatpmpResponse,
        signal,
        what: `NAT-PMP ${what}`,
      });
    } finally {
      await socket.close();
    }
  }

  async externalAddress(signal: AbortSignal): Promise<string> {
    const r = await this.#ask(encodeNatpmpAddressRequest(), signal, 'external address');
    if (r.kind !== 'address') throw unexpected('a map reply to an address request');
    return r.externalAddress;
  }

  async probe(signal: AbortSignal): Promise<{ externalAddress: string }> {
    return { externalAddress: await this.externalAddress(signal) };
  }

  async map(req: MapRequest, signal: AbortSignal): Promise<GrantedMapping> {
    const address = await this.externalAddress(signal);
    const r = await this.#ask(encodeNatpmpMapRequest(req), signal, 'map');
    checkMapReply(r, req);
    if (r.kind !== 'map') throw unexpected('wrong reply kind');
    return {
      via: 'natpmp',
      protocol: req.protocol,
      internalPort: req.internalPort,
      external: { address, port: r.externalPort },
      lifetimeSec: r.lifetimeSec,
    };
  }

  async unmap(m: GrantedMapping, signal: AbortSignal): Promise<void> {
    // §3.4: delete = map request with lifetime 0 and suggested external port 0.
    const r = await this.#ask(
      encodeNatpmpMapRequest({
        protocol: m.protocol,
        internalPort: m.internalPort,
        suggestedExternalPort: 0,
        lifetimeSec: 0,
      }),
      signal,
      'delete',
    );
    if (r.kind !== 'map' || r.internalPort !== m.internalPort) {
      throw unexpected('delete answered for another mapping');
    }
  }
}

/** The grant must be for what we asked: our protocol, our internal port, a real port. */
function checkMapReply(r: NatpmpResponse, req: MapRequest): void {
  if (r.kind !== 'map') throw unexpected('an address reply to a map request');
  if (r.protocol !== req.protocol || r.internalPort !== req.internalPort) {
    throw unexpected(
      `asked ${req.protocol} internal port ${req.internalPort}, granted ${r.protocol} ${r.internalPort}`,
    );
  }
  if (r.externalPort === 0 || r.lifetimeSec === 0) {
    throw new PortmapError(PORTMAP_ERR.MALFORMED, 'NAT-PMP: a grant with port or lifetime 0');
  }
}

function unexpected(what: string): PortmapError {
  return new PortmapError(PORTMAP_ERR.UNEXPECTED_MAPPING, `NAT-PMP: ${what}`);
}
