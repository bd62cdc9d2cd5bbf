/**
 * UPnP-IGD driver: SSDP M-SEARCH for an InternetGatewayDevice (UPnP DA 1.1 §1.3), its device
 * description for the WANIPConnection:2 / :1 (or WANPPPConnection:1) control URL, then SOAP:
 * GetExternalIPAddress, AddPortMapping (v2 falls back to AddAnyPortMapping on 718
 * ConflictInMappingEntry; v1 retries with lease 0 on 725 OnlyPermanentLeasesSupported),
 * DeletePortMapping. Renewal is AddPortMapping again with the granted port (it refreshes the
 * lease, WANIPConnection:2 §2.5.16).
 */
import type { Clock } from '../../util/clock.js';
import type { UdpNetwork } from '../../net/udp.js';
import {
  HTTP_TIMEOUT_MS,
  MAX_SSDP_ANSWERS,
  MAX_XML_BYTES,
  SSDP_ADDRESS,
  SSDP_PORT,
  SSDP_RESEND_MS,
  UPNP_DESCRIPTION,
} from './constants.js';
import { PORTMAP_ERR, PortmapError } from './errors.js';
import type { HttpClient } from './http-client.js';
import {
  parseDescription,
  parseSoapFault,
  soapOutput,
  soapRequest,
  type WanService,
} from './igd-xml.js';
import { decodeSsdpAnswer, encodeMSearch, IGD_SEARCH_TARGETS } from './ssdp.js';
import type { GrantedMapping, MapRequest, PortmapDriver } from './types.js';

export interface UpnpDriverOptions {
  net: UdpNetwork;
  clock: Clock;
  http: HttpClient;
  /** Our LAN address (NewInternalClient); default: the address of the HTTP connection. */
  localAddress?: string;
  timeoutMs: number;
}

interface Igd extends WanService {
  internalClient: string;
}

export class UpnpDriver implements PortmapDriver {
  readonly name = 'upnp' as const;
  #igd: Promise<Igd> | undefined;
  constructor(private readonly o: UpnpDriverOptions) {}

  /** Finds the IGD once; a failure is not cached, so a later call searches again. */
  discover(signal: AbortSignal): Promise<Igd> {
    if (!this.#igd) {
      this.#igd = this.#discover(signal);
      this.#igd.catch(() => (this.#igd = undefined));
    }
    return this.#igd;
  }

  async #discover(signal: AbortSignal): Promise<Igd> {
    const location = await this.#search(signal);
    const res = await this.o.http({
      method: 'GET',
      url: location,
      headers: {},
      maxBytes: MAX_XML_BYTES,
      timeoutMs: HTTP_TIMEOUT_MS,
      signal,
    });
    if (res.status !== 200) {
      throw new PortmapError(PORTMAP_ERR.MALFORMED, `UPnP: description HTTP ${res.status}`);
    }
    const service = parseDescription(res.body, location);
    const internalClient = this.o.localAddress ?? res.localAddress;
    if (!internalClient) throw new TypeError('UPnP: no local address to map to');
    return { ...service, internalClient };
  }

  /** M-SEARCH for IGD:1 and IGD:2, twice; the first answer with a usable LOCATION wins. */
  async #search(signal: AbortSignal): Promise<string> {
    const socket = await this.o.net.bindUdp(
      this.o.localAddress ? { address: this.o.localAddress } : {},
    );
    try {
      return await new Promise<string>((resolve, reject) => {
        let answers = 0;
        let lastError: unknown;
        const sendAll = (): void => {
          for (const st of IGD_SEARCH_TARGETS) {
            socket.send(encodeMSearch(st), { address: SSDP_ADDRESS, port: SSDP_PORT });
          }
        };
        const finish = (err: unknown, loc?: string): void => {
          resend.cancel();
          deadline.cancel();
          off();
          signal.removeEventListener('abort', onAbort);
          if (loc !== undefined) resolve(loc);
          else reject(err);
        };
        const off = socket.onMessage((data, from) => {
          if (++answers > MAX_SSDP_ANSWERS) return;
          try {
            finish(undefined, decodeSsdpAnswer(data, from.address).location);
          } catch (e) {
            lastError = e; // another device may still answer properly
          }
        });
        const resend = this.o.clock.setTimeout(sendAll, SSDP_RESEND_MS);
        const deadline = this.o.clock.setTimeout(
          () =>
            finish(
              lastError ??
                new PortmapError(PORTMAP_ERR.TIMEOUT, 'UPnP: no IGD answered the M-SEARCH'),
            ),
          this.o.timeoutMs,
        );
        const onAbort = (): void =>
          finish(new PortmapError(PORTMAP_ERR.CLOSED, 'UPnP: search aborted'));
        signal.addEventListener('abort', onAbort);
        if (signal.aborted) return onAbort();
        sendAll();
      });
    } finally {
      await socket.close();
    }
  }

  async #call(
    igd: Igd,
    action: string,
    args: [string, string | number][],
    signal: AbortSignal,
  ): Promise<string> {
    const { body, soapAction } = soapRequest(igd.serviceType, action, args);
    const res = await this.o.http({
      method: 'POST',
      url: igd.controlUrl,
      headers: { 'content-type': 'text/xml; charset="utf-8"', soapaction: soapAction },
      body,
      maxBytes: MAX_XML_BYTES,
      timeoutMs: HTTP_TIMEOUT_MS,
      signal,
    });
    if (res.status === 200) return res.body;
    const fault = parseSoapFault(res.body);
    throw new PortmapError(
      PORTMAP_ERR.REFUSED,
      fault
        ? `UPnP ${action}: error ${fault.errorCode} ${fault.errorDescription}`
        : `UPnP ${action}: HTTP ${res.status}`,
      { cause: fault },
    );
  }

  async externalAddress(signal: AbortSignal): Promise<string> {
    const igd = await this.discover(signal);
    const xml = await this.#call(igd, 'GetExternalIPAddress', [], signal);
    const address = soapOutput(xml, 'NewExternalIPAddress');
    // miniupnpd answers an empty address when its WAN address is reserved (behind a CGN).
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(address)) {
      throw new PortmapError(
        PORTMAP_ERR.NOT_PUBLIC,
        `UPnP: the IGD has no usable external address (${JSON.stringify(address.slice(0, 50))})`,
      );
    }
    return address;
  }

  async probe(signal: AbortSignal): Promise<{ externalAddress: string }> {
    return { externalAddress: await this.externalAddress(signal) };
  }

  async map(req: MapRequest, signal: AbortSignal): Promise<GrantedMapping> {
    const igd = await this.discover(signal);
    const address = await this.externalAddress(signal);
    const v2 = igd.serviceType.endsWith(':2');
    const add = (lease: number, port: number): Promise<string> =>
      this.#call(
        igd,
        'AddPortMapping',
        [
          ['NewRemoteHost', ''],
          ['NewExternalPort', port],
          ['NewProtocol', req.protocol.toUpperCase()],
          ['NewInternalPort', req.internalPort],
          ['NewInternalClient', igd.internalClient],
          ['NewEnabled', 1],
          ['NewPortMappingDescription', UPNP_DESCRIPTION],
          ['NewLeaseDuration', lease],
        ],
        signal,
      );
    let port = req.suggestedExternalPort;
    let lease = req.lifetimeSec;
    try {
      await add(lease, port);
    } catch (e) {
      const code = faultCode(e);
      if (code === 725 && !v2) {
        lease = 0; // v1 router that only does permanent leases: we delete on close anyway
        await add(lease, port);
      } else if (code === 718 && v2) {
        port = await this.#addAny(igd, req, signal);
      } else throw e;
    }
    return {
      via: 'upnp',
      protocol: req.protocol,
      internalPort: req.internalPort,
      external: { address, port },
      // Lease 0 means "until deleted"; renew on the default schedule anyway (cheap, and it
      // notices a router that forgot the mapping).
      lifetimeSec: lease === 0 ? req.lifetimeSec : lease,
    };
  }

  async #addAny(igd: Igd, req: MapRequest, signal: AbortSignal): Promise<number> {
    const xml = await this.#call(
      igd,
      'AddAnyPortMapping',
      [
        ['NewRemoteHost', ''],
        ['NewExternalPort', req.suggestedExternalPort],
        ['NewProtocol', req.protocol.toUpperCase()],
        ['NewInternalPort', req.internalPort],
        ['NewInternalClient', igd.internalClient],
        ['NewEnabled', 1],
        ['NewPortMappingDescription', UPNP_DESCRIPTION],
        ['NewLeaseDuration', req.lifetimeSec],
      ],
      signal,
    );
    const port = Number(soapOutput(xml, 'NewReservedPort'));
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new PortmapError(PORTMAP_ERR.MALFORMED, `UPnP: reserved port ${port}`);
    }
    return port;
  }

  async unmap(m: GrantedMapping, signal: AbortSignal): Promise<void> {
    const igd = await this.discover(signal);
    await this.#call(
      igd,
      'DeletePortMapping',
      [
        ['NewRemoteHost', ''],
        ['NewExternalPort', m.external.port],
        ['NewProtocol', m.protocol.toUpperCase()],
      ],
      signal,
    );
  }
}

function faultCode(e: unknown): number | undefined {
  const c = (e as { cause?: { errorCode?: unknown } } | undefined)?.cause?.errorCode;
  return typeof c === 'number' ? c : undefined;
}
