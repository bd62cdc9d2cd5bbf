/**
 * A UdpNetwork whose binds to given ports share it with the other workers (UdpBindOptions.share);
 * every other bind (a relay's relayed sockets) stays a socket of this process alone. Lets the
 * relay and STUN servers run unchanged in a worker: they bind their listener on `port` as usual.
 */
import type { UdpNetwork } from '../../net/index.js';

export function sharedPortNetwork(
  base: UdpNetwork,
  ports: number[],
  share: 'reuseport' | 'cluster',
): UdpNetwork {
  const shared = new Set(ports.filter((p) => p !== 0));
  return {
    bindUdp: (o = {}) =>
      base.bindUdp(o.port !== undefined && shared.has(o.port) ? { ...o, share } : o),
  };
}
