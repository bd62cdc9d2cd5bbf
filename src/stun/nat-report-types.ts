/**
 * What `discoverNat` (nat-discovery.ts) reports: each server's Test I answer and the NAT's
 * behaviour in RFC 4787 / RFC 5780 terms, with what `natpush nat-check` adds (port allocation,
 * port mapping). nat-report.ts puts it in words.
 */
import type { Endpoint } from '../net/udp.js';
import type { Dependence, NatKind, PunchOutlook } from './nat-classify.js';

export interface ServerResult {
  server: Endpoint;
  mapped?: Endpoint;
  otherAddress?: Endpoint;
  rttMs?: number;
  error?: string;
}

export interface NatReport {
  servers: ServerResult[];
  udp: boolean;
  /** TCP to the first server, when a TCP probe was given. */
  tcp?: boolean;
  local: Endpoint;
  mapped?: Endpoint;
  behindNat?: boolean;
  mapping: Dependence;
  filtering: Dependence;
  hairpinning?: boolean;
  portPreservation?: boolean;
  /** Mapped addresses differ between servers (RFC 4787 §4.1 "varies by destination"). */
  mappingVariesByServer?: boolean;
  kind: NatKind;
  outlook: PunchOutlook;
  /** Binding lifetime bounds in ms, when measured: alive at `aliveMs`, gone at `goneMs`. */
  lifetime?: { aliveMs?: number; goneMs?: number };
  /** Why a behaviour is unknown (server without alternate address, etc.). */
  notes: string[];
  /**
   * How the NAT picks the port of a new mapping (src/punch/port-prediction.ts), measured with a
   * few extra bindings from fresh sockets, and the samples (local port → mapped port, in order).
   */
  allocation?: {
    pattern: { kind: 'preserving' } | { kind: 'sequential'; delta: number } | { kind: 'random' };
    samples: { localPort: number; mappedPort: number }[];
  };
  /** What the router offers for port mapping (PCP, NAT-PMP, UPnP-IGD) and what it granted. */
  portMapping?: PortMappingReport;
}

export interface PortMappingReport {
  /** Per protocol: answered (with the external address it told), or why not. */
  offered: Record<
    string,
    { ok: true; externalAddress?: string } | { ok: false; code: string; message: string }
  >;
  /** The test mapping granted (and deleted again right after). */
  granted?: { via: string; external: Endpoint; lifetimeSec: number; ms: number };
  /** Why no usable mapping (e.g. NATPUSH_ERR_PORTMAP_NOT_PUBLIC behind carrier-grade NAT). */
  error?: { code: string; message: string };
}
