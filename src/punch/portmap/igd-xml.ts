/**
 * The XML of UPnP-IGD, pure and bounded: the device description (UPnP DA 1.1 §2.3) read for its
 * WAN connection service, and the SOAP calls of WANIPConnection v1/v2 (UPnP IGD
 * WANIPConnection:1 §2.4, :2 §2.5).
 *
 * Not a general XML parser, on purpose: we need a handful of leaf elements, the input is capped
 * at MAX_XML_BYTES before it gets here, and every pattern below is linear (no nested
 * quantifiers), so a hostile description costs at most one pass over 64 kB.
 */
import { MAX_XML_BYTES, MAX_XML_SERVICES } from './constants.js';
import { PORTMAP_ERR, PortmapError } from './errors.js';

/** Services that can add port mappings, best first. WANPPPConnection:1 is the PPPoE twin. */
export const WAN_SERVICE_TYPES = [
  'urn:schemas-upnp-org:service:WANIPConnection:2',
  'urn:schemas-upnp-org:service:WANIPConnection:1',
  'urn:schemas-upnp-org:service:WANPPPConnection:1',
] as const;

export interface WanService {
  serviceType: (typeof WAN_SERVICE_TYPES)[number];
  /** Absolute control URL, on the description's host. */
  controlUrl: string;
}

function checkSize(xml: string, what: string): void {
  if (xml.length > MAX_XML_BYTES) {
    throw new PortmapError(PORTMAP_ERR.TOO_LARGE, `UPnP ${what}: ${xml.length} bytes`);
  }
}

function decodeEntities(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/** Text of the first `<name>` element (any namespace prefix) inside `xml`, trimmed. */
export function leafText(xml: string, name: string): string | undefined {
  // Attributes bounded to 256 characters: a `<name` with no `>` after it costs 256 steps, not
  // the rest of the document.
  const re = new RegExp(
    `<(?:[A-Za-z0-9_]{1,32}:)?${name}(?:\\s[^<>]{0,256})?>([^<]*)</(?:[A-Za-z0-9_]{1,32}:)?${name}\\s*>`,
  );
  const m = re.exec(xml);
  return m ? decodeEntities(m[1]!.trim()) : undefined;
}

/**
 * The best WAN connection service of a description at `descriptionUrl`. Throws PortmapError
 * TOO_LARGE, MALFORMED (no usable service, a control URL on another host or not http).
 */
export function parseDescription(xml: string, descriptionUrl: string): WanService {
  checkSize(xml, 'description');
  const base = new URL(leafText(xml, 'URLBase') ?? descriptionUrl);
  const found: WanService[] = [];
  // indexOf, not one regex over the document: an opening tag without a closing one ends the
  // scan instead of being retried from every later position.
  let at = 0;
  for (let i = 0; i < MAX_XML_SERVICES; i++) {
    const open = xml.indexOf('<service>', at);
    if (open < 0) break;
    const close = xml.indexOf('</service>', open);
    if (close < 0) break;
    const block = xml.slice(open, close);
    at = close + 1;
    const type = leafText(block, 'serviceType');
    const control = leafText(block, 'controlURL');
    const known = WAN_SERVICE_TYPES.find((t) => t === type);
    if (!known || !control) continue;
    let url: URL;
    try {
      url = new URL(control, base);
    } catch {
      continue;
    }
    // The control URL must be where the description came from: a description pointing us at
    // another host would make the router's XML a way to send our requests anywhere.
    const origin = new URL(descriptionUrl);
    if (url.protocol !== 'http:' || url.host !== origin.host) {
      throw new PortmapError(
        PORTMAP_ERR.MALFORMED,
        `UPnP: control URL ${url.origin} is not on ${origin.host}`,
      );
    }
    found.push({ serviceType: known, controlUrl: url.href });
  }
  found.sort(
    (a, b) => WAN_SERVICE_TYPES.indexOf(a.serviceType) - WAN_SERVICE_TYPES.indexOf(b.serviceType),
  );
  const best = found[0];
  if (!best) throw new PortmapError(PORTMAP_ERR.MALFORMED, 'UPnP: no WAN connection service');
  return best;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A SOAP request body and its SOAPAction header. */
export function soapRequest(
  serviceType: string,
  action: string,
  args: [string, string | number][],
): { body: string; soapAction: string } {
  const inner = args.map(([k, v]) => `<${k}>${escapeXml(String(v))}</${k}>`).join('');
  const body =
    '<?xml version="1.0"?>\r\n' +
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" ' +
    's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">' +
    `<s:Body><u:${action} xmlns:u="${serviceType}">${inner}</u:${action}></s:Body></s:Envelope>`;
  return { body, soapAction: `"${serviceType}#${action}"` };
}

export interface SoapFault {
  errorCode: number;
  errorDescription: string;
}

/** UPnP errors come back as HTTP 500 with a UPnPError in the SOAP fault (UPnP DA §3.2.2). */
export function parseSoapFault(xml: string): SoapFault | undefined {
  checkSize(xml, 'fault');
  const code = leafText(xml, 'errorCode');
  if (code === undefined || !/^\d{1,4}$/.test(code)) return undefined;
  return {
    errorCode: Number(code),
    errorDescription: (leafText(xml, 'errorDescription') ?? '').slice(0, 200),
  };
}

/** The named output argument of a SOAP response; MALFORMED if absent. */
export function soapOutput(xml: string, name: string): string {
  checkSize(xml, 'response');
  const v = leafText(xml, name);
  if (v === undefined) throw new PortmapError(PORTMAP_ERR.MALFORMED, `UPnP: no ${name} in answer`);
  return v;
}
