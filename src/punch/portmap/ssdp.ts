/**
 * SSDP discovery of an Internet Gateway Device (UPnP Device Architecture 1.1 §1.3), pure.
 *
 *   M-SEARCH * HTTP/1.1
 *   HOST: 239.255.255.250:1900
 *   MAN: "ssdp:discover"
 *   MX: 2
 *   ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1
 *
 * The answer is an HTTP/1.1 200 header block with LOCATION (the device description URL) and ST.
 */
import { MAX_SSDP_BYTES, SSDP_ADDRESS, SSDP_MX_SEC, SSDP_PORT } from './constants.js';
import { PORTMAP_ERR, PortmapError } from './errors.js';

/** IGD:2 devices also answer IGD:1 searches (they are backward compatible), but not always. */
export const IGD_SEARCH_TARGETS = [
  'urn:schemas-upnp-org:device:InternetGatewayDevice:1',
  'urn:schemas-upnp-org:device:InternetGatewayDevice:2',
] as const;

export function encodeMSearch(st: string): Uint8Array {
  const text =
    'M-SEARCH * HTTP/1.1\r\n' +
    `HOST: ${SSDP_ADDRESS}:${SSDP_PORT}\r\n` +
    'MAN: "ssdp:discover"\r\n' +
    `MX: ${SSDP_MX_SEC}\r\n` +
    `ST: ${st}\r\n\r\n`;
  return new TextEncoder().encode(text);
}

export interface SsdpAnswer {
  location: string;
  st: string;
}

/**
 * Parses an M-SEARCH answer. Throws PortmapError TOO_LARGE / MALFORMED. The LOCATION must be
 * an http URL on the host that answered: otherwise any LAN host (or a router bug) could make us
 * fetch from anywhere.
 */
export function decodeSsdpAnswer(data: Uint8Array, fromAddress: string): SsdpAnswer {
  if (data.length > MAX_SSDP_BYTES) {
    throw new PortmapError(PORTMAP_ERR.TOO_LARGE, `SSDP: ${data.length}-byte answer`);
  }
  const text = new TextDecoder().decode(data);
  const lines = text.split('\r\n');
  if (!/^HTTP\/1\.[01] 200\b/.test(lines[0] ?? '')) {
    throw new PortmapError(PORTMAP_ERR.MALFORMED, 'SSDP: not an HTTP 200 answer');
  }
  const headers = new Map<string, string>();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
  }
  const location = headers.get('location');
  const st = headers.get('st') ?? '';
  if (!location) throw new PortmapError(PORTMAP_ERR.MALFORMED, 'SSDP: no LOCATION');
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw new PortmapError(PORTMAP_ERR.MALFORMED, `SSDP: bad LOCATION ${location.slice(0, 100)}`);
  }
  if (url.protocol !== 'http:' || url.hostname !== fromAddress) {
    throw new PortmapError(
      PORTMAP_ERR.MALFORMED,
      `SSDP: LOCATION ${url.origin} is not on the answering host ${fromAddress}`,
    );
  }
  return { location: url.href, st };
}
