/**
 * RFC 7065 `turn:` URIs → the relay's endpoint on one transport. serve hands each peer the URLs
 * of the relay it chose from the fleet (src/cluster/relay-choice.ts), so the endpoint is read
 * from each set of credentials, not fixed once. `turns:` (TLS) is not spoken here: never chosen.
 */
import type { Endpoint } from '../../net/index.js';

const TURN_URL = /^turn:\[?([^\]]+?)\]?:(\d+)\?transport=(udp|tcp)$/;

/** The first URL of `transport` in `urls`, as an endpoint; undefined when there is none. */
export function turnEndpoint(
  urls: readonly string[],
  transport: 'udp' | 'tcp',
): Endpoint | undefined {
  for (const u of urls) {
    const m = TURN_URL.exec(u);
    if (m && m[3] === transport) return { address: m[1]!, port: Number(m[2]) };
  }
  return undefined;
}
