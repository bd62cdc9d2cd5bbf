/**
 * The one HTTP exchange UPnP-IGD needs (description GET, SOAP POST), injected so unit tests can
 * play a hostile router without sockets. The node implementation is bounded: plain http only,
 * no redirects (a router has no reason to redirect, and following one lets it point us at any
 * host), the body capped at `maxBytes` (TOO_LARGE), the whole exchange at `timeoutMs` (TIMEOUT).
 */
import http from 'node:http';
import { PORTMAP_ERR, PortmapError } from './errors.js';

export interface HttpRequest {
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  body?: string;
  maxBytes: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  body: string;
  /** Our address on the TCP connection: the internal client a UPnP mapping is for. */
  localAddress?: string;
}

export type HttpClient = (req: HttpRequest) => Promise<HttpResponse>;

export const nodeHttpClient: HttpClient = (req) =>
  new Promise<HttpResponse>((resolve, reject) => {
    const url = new URL(req.url);
    if (url.protocol !== 'http:') {
      reject(new PortmapError(PORTMAP_ERR.MALFORMED, `UPnP: not an http URL: ${req.url}`));
      return;
    }
    let settled = false;
    const fail = (e: PortmapError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      reject(e);
    };
    const body = req.body === undefined ? undefined : Buffer.from(req.body, 'utf8');
    const request = http.request(url, {
      method: req.method,
      headers: {
        ...req.headers,
        ...(body ? { 'content-length': String(body.length) } : {}),
        connection: 'close',
      },
      ...(req.signal ? { signal: req.signal } : {}),
    });
    const timer = setTimeout(
      () => fail(new PortmapError(PORTMAP_ERR.TIMEOUT, `UPnP: ${req.url}: no answer`)),
      req.timeoutMs,
    );
    timer.unref();
    request.on('error', (e) =>
      fail(
        new PortmapError(PORTMAP_ERR.NO_GATEWAY, `UPnP: ${req.url}: ${e.message}`, { cause: e }),
      ),
    );
    request.on('response', (res) => {
      const chunks: Buffer[] = [];
      let n = 0;
      const declared = Number(res.headers['content-length'] ?? 0);
      if (declared > req.maxBytes) {
        fail(tooLarge(req, declared));
        return;
      }
      res.on('data', (c: Buffer) => {
        n += c.length;
        if (n > req.maxBytes) return fail(tooLarge(req, n));
        chunks.push(c);
      });
      res.on('error', (e) =>
        fail(new PortmapError(PORTMAP_ERR.MALFORMED, `UPnP: ${req.url}: ${e.message}`)),
      );
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          ...(request.socket?.localAddress ? { localAddress: request.socket.localAddress } : {}),
        });
      });
    });
    request.end(body);
  });

function tooLarge(req: HttpRequest, n: number): PortmapError {
  return new PortmapError(
    PORTMAP_ERR.TOO_LARGE,
    `UPnP: ${req.url}: body of ${n}+ bytes over the ${req.maxBytes}-byte bound`,
  );
}
