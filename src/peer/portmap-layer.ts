/**
 * The Peer's router port mapping (issue 11): a PortMapper (punch/portmap) for the punch socket's
 * port, started when the punch layer is made. It never delays the first candidates: the
 * mapping joins them from the next gather on (`onChange` makes the connector re-gather and
 * re-register its offer with serve), so the punch after the grant uses it. A host without any
 * router answering costs a few probe packets and nothing visible (no error event; a debug log
 * line). Closing deletes the mapping (DeletePortMapping, NAT-PMP/PCP lifetime 0), bounded by the
 * probe timeout.
 */
import type { UdpNetwork } from '../net/udp.js';
import type { Candidate } from '../punch/candidates.js';
import { mappedCandidates, PortMapper, type PortmapProtocolName } from '../punch/portmap/index.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';

export interface PortmapLayerOptions {
  net: UdpNetwork;
  clock: Clock;
  logger: Logger;
  /** The punch socket's local port. */
  port: number;
  /** The mapping arrived, moved (renewal) or was lost. */
  onChange: () => void;
  /** Only these protocols (default all three, probed at once). */
  protocols?: PortmapProtocolName[];
  /** Tests: another mapper (default a PortMapper toward the default gateway). */
  mapper?: Pick<PortMapper, 'map' | 'mapping' | 'onChange' | 'close'>;
}

export class PortmapLayer {
  readonly #mapper: Pick<PortMapper, 'map' | 'mapping' | 'onChange' | 'close'>;
  readonly #off: () => void;
  #closed = false;

  constructor(o: PortmapLayerOptions) {
    this.#mapper =
      o.mapper ??
      new PortMapper({
        net: o.net,
        clock: o.clock,
        logger: o.logger,
        ...(o.protocols ? { protocols: o.protocols } : {}),
      });
    this.#off = this.#mapper.onChange(() => {
      if (!this.#closed) o.onChange();
    });
    this.#mapper.map(o.port).then(
      () => {
        if (!this.#closed) o.onChange();
      },
      (err: unknown) =>
        o.logger.debug('no port mapping', { err: (err as Error).message ?? String(err) }),
    );
  }

  /**
   * The mapping as the socket's top srflx candidate, or none. A mapping on another address than
   * the one STUN saw (`gathered`' srflx) is on an inner router of a double NAT: nobody outside
   * reaches it, so it is not offered (the mapper is told the address only after its grant).
   */
  candidates(gathered: readonly Candidate[] = []): Candidate[] {
    if (this.#closed) return [];
    const seen = gathered.find((c) => c.type === 'srflx')?.address;
    return mappedCandidates(this.#mapper).filter((c) => seen === undefined || c.address === seen);
  }

  /** A public mapping is held now (a NAT fact for the other side, punch/nat-facts.ts). */
  granted(gathered: readonly Candidate[] = []): boolean {
    return this.candidates(gathered).length > 0;
  }

  /** Deletes the mapping on the router; idempotent, never throws. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#off();
    await this.#mapper.close().catch(() => {});
  }
}
