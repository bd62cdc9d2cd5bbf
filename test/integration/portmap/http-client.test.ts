/**
 * The UPnP HTTP client against hostile loopback servers: an endless body stops at the bound
 * (TOO_LARGE) instead of filling memory, a redirect is not followed, a server that never
 * answers ends in TIMEOUT; an honest answer comes back with our local address (the internal
 * client a UPnP mapping is for).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeHttpClient } from '../../../src/punch/portmap/http-client.js';

let server: http.Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

async function serve(handler: http.RequestListener): Promise<string> {
  server = http.createServer(handler);
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/rootDesc.xml`;
}

const req = (url: string, maxBytes = 64 * 1024, timeoutMs = 2_000) =>
  nodeHttpClient({ method: 'GET', url, headers: {}, maxBytes, timeoutMs });

describe('nodeHttpClient (UPnP) against hostile servers', () => {
  it('an honest answer, with our local address', async () => {
    const url = await serve((_q, s) => s.end('<root/>'));
    const r = await req(url);
    expect(r).toMatchObject({ status: 200, body: '<root/>', localAddress: '127.0.0.1' });
  });

  it('an endless chunked body stops at the bound: TOO_LARGE', async () => {
    let written = 0;
    const url = await serve((_q, s) => {
      const chunk = Buffer.alloc(16 * 1024, 0x61);
      const pump = (): void => {
        while (written < 64 * 1024 * 1024 && s.write(chunk)) written += chunk.length;
        if (written < 64 * 1024 * 1024) s.once('drain', pump);
      };
      pump();
    });
    await expect(req(url)).rejects.toMatchObject({ code: 'NATPUSH_ERR_PORTMAP_TOO_LARGE' });
    expect(written).toBeLessThan(64 * 1024 * 1024);
  });

  it('a declared huge Content-Length is refused before reading', async () => {
    const url = await serve((_q, s) => {
      s.writeHead(200, { 'content-length': String(1e9) });
      s.write('x');
    });
    await expect(req(url)).rejects.toMatchObject({ code: 'NATPUSH_ERR_PORTMAP_TOO_LARGE' });
  });

  it('a redirect is not followed', async () => {
    let hits = 0;
    const url = await serve((q, s) => {
      hits++;
      s.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere' }).end();
    });
    const r = await req(url);
    expect(r.status).toBe(302);
    expect(hits).toBe(1);
  });

  it('a server that never answers: TIMEOUT', async () => {
    const url = await serve(() => {});
    await expect(req(url, 1024, 200)).rejects.toMatchObject({
      code: 'NATPUSH_ERR_PORTMAP_TIMEOUT',
    });
  });

  it('only http: URLs', async () => {
    await expect(req('https://127.0.0.1/x')).rejects.toMatchObject({
      code: 'NATPUSH_ERR_PORTMAP_MALFORMED',
    });
  });
});
