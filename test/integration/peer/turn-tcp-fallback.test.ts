/**
 * TURN over TCP for UDP-blocked peers (issue 9): `TurnClient.allocate` with `tcpFallback` makes
 * the allocation over TCP at serve's relay (RFC 8656 §3.1) when the Allocate over UDP gets no
 * answer at all, and never when the server answered over UDP (an error response is final). On
 * loopback against a real `natpush serve`: "UDP blocked" is a UDP socket that swallows
 * everything, standing where the relay's UDP port would be.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeUdpNetwork } from '../../../src/net/node-udp.js';
import type { Endpoint, UdpSocket } from '../../../src/net/udp.js';
import { Peer } from '../../../src/peer/peer.js';
import { CLIENT_REQUEST_TIMEOUT_MS } from '../../../src/relay/constants.js';
import { TurnClient } from '../../../src/relay/index.js';
import { generateIdentity } from '../../../src/signaling/identity.js';
import { serve } from '../signaling/natpush-process.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

/**
 * The client's own default. The fallback waits one full request
 * timeout over UDP first, so a shorter one made the test quicker, but the 401 test needs serve's
 * answer over UDP within it, and the fallback test the TCP Allocate: 4 s is short for a serve
 * process on a loaded 2-core machine (an Allocate missed by it falls back to TCP and fails the
 * 401 test).
 */
const REQUEST_TIMEOUT_MS = CLIENT_REQUEST_TIMEOUT_MS;
/** serve's start (seconds under load) plus one UDP timeout and the TCP Allocate. */
const TEST_MS = 90_000;

function endpoint(url: string): Endpoint {
  const m = /^turn:([^:]+):(\d+)\?transport=(udp|tcp)$/.exec(url)!;
  return { address: m[1]!, port: Number(m[2]) };
}

async function relayCredentials() {
  const dir = mkdtempSync(join(tmpdir(), 'np-turn-tcp-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const s = await serve(join(dir, 'data'));
  cleanups.push(() => s.p.kill());
  const p = await Peer.connect({ server: s.url, identity: generateIdentity(), direct: false });
  cleanups.push(() => p.close());
  const c = await p.turnCredentials();
  const udp = endpoint(c.urls.find((u) => u.endsWith('transport=udp'))!);
  const tcp = endpoint(c.urls.find((u) => u.endsWith('transport=tcp'))!);
  return { c, udp, tcp };
}

/** A UDP socket that never answers: the relay's UDP port as a UDP-blocking network shows it. */
async function blackHole(): Promise<{ socket: UdpSocket; at: Endpoint; got: () => number }> {
  const socket = await nodeUdpNetwork.bindUdp({ address: '127.0.0.1', port: 0 });
  cleanups.push(() => socket.close());
  let n = 0;
  socket.onMessage(() => n++);
  return { socket, at: socket.address(), got: () => n };
}

describe('TURN allocation over TCP when UDP gets no answer', { timeout: TEST_MS }, () => {
  it('allocates over TCP at the fallback; the relayed address is UDP as usual', async () => {
    const { c, tcp } = await relayCredentials();
    const hole = await blackHole();
    const client = await TurnClient.allocate({
      server: hole.at,
      tcpFallback: tcp,
      username: c.username,
      password: c.password,
      net: nodeUdpNetwork,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
    });
    cleanups.push(() => client.close());
    expect(hole.got()).toBeGreaterThan(0); // UDP was tried first
    expect(client.transport).toBe('tcp');
    expect(client.server).toEqual(tcp);
    expect(client.relayedAddress.port).toBeGreaterThan(0);
  });

  it('an answer over UDP is final: a 401 does not fall back to TCP', async () => {
    const { c, udp } = await relayCredentials();
    let connections = 0;
    const tcpServer = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => tcpServer.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => tcpServer.close(() => r())));
    const port = (tcpServer.address() as net.AddressInfo).port;
    const err = await TurnClient.allocate({
      server: udp,
      tcpFallback: { address: '127.0.0.1', port },
      username: c.username,
      password: `${c.password.slice(0, -2)}AA`,
      net: nodeUdpNetwork,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'NATPUSH_ERR_TURN_REJECTED', status: 401 });
    expect(connections).toBe(0);
  });
});
