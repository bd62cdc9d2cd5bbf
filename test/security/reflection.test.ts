/**
 * Issue 8, finding 10: reflection. A TURN server answers requests from any UDP source, and the
 * source can be spoofed, so every error reply is traffic aimed at a victim: an unauthenticated
 * 20-byte Allocate drew a 100-byte 401 (2.7× on the wire), without limit. Now error replies over
 * UDP are rate limited per source IP with the STUN server's limits (200/s, burst 400), stay
 * within 2× the request on the wire (IP + UDP headers counted, RFC 5780 §9.1) — within 1× where
 * the RFC allows: a 401 needs REALM and NONCE, so it is made short (20-character nonce, empty
 * reason phrase, no SOFTWARE) — and are not sent at all when they cannot fit.
 *
 * The attack runs against serve's relay on loopback from one socket (a spoofer would use the
 * victim's address; the relay cannot tell the difference, which is the point).
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Attr,
  decodeStunMessage,
  Method,
  readErrorCode,
  readString,
  StunClass,
  StunMessageBuilder,
  TransportProtocol,
  type StunMessage,
} from '../../src/stun/index.js';
import { IPV4_UDP_HEADER_BYTES } from '../../src/stun/constants.js';
import { peerWithCredentials, startServe, turnEndpoint, type Closer } from './serve-fixture.js';

const closers: Closer[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** The STUN server's per-IP limits, which TURN error replies now share (src/stun/constants.ts). */
const RATE = { perSecond: 200, burst: 400 };

async function udpClient(): Promise<{ socket: Socket; replies: Buffer[] }> {
  const socket = createSocket('udp4');
  const replies: Buffer[] = [];
  socket.on('message', (m) => replies.push(m));
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  closers.push(() => new Promise<void>((r) => socket.close(() => r())));
  return { socket, replies };
}

function send(socket: Socket, bytes: Uint8Array, to: { address: string; port: number }) {
  return new Promise<void>((r) => socket.send(bytes, to.port, to.address, () => r()));
}

async function exchange(
  c: { socket: Socket; replies: Buffer[] },
  to: { address: string; port: number },
  req: Uint8Array,
  // Where a reply is expected: returns at the reply; 1 s was short for a separate serve process
  // on a loaded machine (and a late reply would then be taken for the next request's).
  waitMs = 10_000,
): Promise<Buffer | undefined> {
  const before = c.replies.length;
  await send(c.socket, req, to);
  const until = Date.now() + waitMs;
  while (c.replies.length === before && Date.now() < until)
    await new Promise((r) => setTimeout(r, 5));
  return c.replies[before];
}

/** On the wire, IPv4: the datagram plus its IP and UDP headers (as binding-responder.ts). */
const wire = (n: number): number => n + IPV4_UDP_HEADER_BYTES;
const ratio = (req: number, res: number): number => wire(res) / wire(req);

describe('TURN error replies are no reflector (finding 10)', () => {
  it('a 401 stays within 2× of the request on the wire and carries only what RFC 8489 needs', async () => {
    const s = await startServe(closers);
    const { creds } = await peerWithCredentials(closers, s.url);
    const relay = turnEndpoint(creds, 'udp');
    const c = await udpClient();
    const figures: string[] = [];
    // A request without any attribute (20 bytes) is no real TURN request: no answer at all.
    for (const method of [Method.Allocate, Method.Refresh, Method.CreatePermission]) {
      const bare = StunMessageBuilder.of(method, StunClass.Request).build();
      expect(await exchange(c, relay, bare, 300)).toBeUndefined();
    }
    figures.push('bare 20 B requests (no attribute): no reply');
    const cases: [string, StunMessageBuilder][] = [
      [
        'Allocate + REQUESTED-TRANSPORT',
        StunMessageBuilder.of(Method.Allocate, StunClass.Request).addRequestedTransport(
          TransportProtocol.UDP,
        ),
      ],
      [
        'Allocate + REQUESTED-TRANSPORT + FINGERPRINT (our client)',
        StunMessageBuilder.of(Method.Allocate, StunClass.Request)
          .addRequestedTransport(TransportProtocol.UDP)
          .addFingerprint(),
      ],
      [
        'Refresh + LIFETIME',
        StunMessageBuilder.of(Method.Refresh, StunClass.Request).addUint32(Attr.Lifetime, 600),
      ],
    ];
    for (const [name, b] of cases) {
      const req = b.build();
      const res = await exchange(c, relay, req);
      expect(res, name).toBeDefined();
      const m: StunMessage = decodeStunMessage(Uint8Array.from(res!));
      expect(readErrorCode(m)?.code, name).toBe(401);
      // RFC 8489 §9.2.4: REALM and NONCE are what the client needs; nothing else is spent.
      expect(readString(m, Attr.Realm)).toBe('natpush');
      expect(readString(m, Attr.Nonce)!.length).toBeLessThanOrEqual(20);
      expect(m.get(Attr.Software)).toBeUndefined();
      const r = ratio(req.length, res!.length);
      figures.push(
        `${name}: request ${req.length} B, 401 ${res!.length} B, on the wire ${r.toFixed(2)}×`,
      );
      expect(r, name).toBeLessThanOrEqual(2);
    }
    process.stdout.write(figures.join('\n') + '\n');
  });

  it('other errors (400, 437) stay within 1× of the request', async () => {
    const s = await startServe(closers);
    const { creds } = await peerWithCredentials(closers, s.url);
    const relay = turnEndpoint(creds, 'udp');
    const c = await udpClient();
    // 400: integrity without USERNAME/REALM/NONCE.
    const bad = StunMessageBuilder.of(Method.Allocate, StunClass.Request)
      .addIntegrity(new Uint8Array(16))
      .build();
    const r400 = await exchange(c, relay, bad);
    expect(readErrorCode(decodeStunMessage(Uint8Array.from(r400!)))?.code).toBe(400);
    expect(r400!.length).toBeLessThanOrEqual(bad.length);
    // 437: an authenticated Refresh from a 5-tuple without an allocation.
    const challenge = decodeStunMessage(
      Uint8Array.from(
        (await exchange(
          c,
          relay,
          StunMessageBuilder.of(Method.Allocate, StunClass.Request)
            .addRequestedTransport(TransportProtocol.UDP)
            .build(),
        ))!,
      ),
    );
    const { longTermKey } = await import('../../src/stun/index.js');
    const key = longTermKey(creds.username, 'natpush', creds.password);
    const refresh = StunMessageBuilder.of(Method.Refresh, StunClass.Request)
      .addString(Attr.Username, creds.username)
      .addString(Attr.Realm, 'natpush')
      .addString(Attr.Nonce, readString(challenge, Attr.Nonce)!)
      .addIntegrity(key)
      .build();
    const r437 = await exchange(c, relay, refresh);
    expect(readErrorCode(decodeStunMessage(Uint8Array.from(r437!)))?.code).toBe(437);
    expect(r437!.length).toBeLessThanOrEqual(refresh.length);
    process.stdout.write(
      `400: request ${bad.length} B → ${r400!.length} B (${(r400!.length / bad.length).toFixed(2)}×); ` +
        `437: request ${refresh.length} B → ${r437!.length} B (${(r437!.length / refresh.length).toFixed(2)}×)\n`,
    );
  });

  it('a flood of unauthenticated Allocates from one address draws at most the per-IP rate', async () => {
    const s = await startServe(closers);
    const { creds } = await peerWithCredentials(closers, s.url);
    const relay = turnEndpoint(creds, 'udp');
    const c = await udpClient();
    const req = StunMessageBuilder.of(Method.Allocate, StunClass.Request)
      .addRequestedTransport(TransportProtocol.UDP)
      .build();
    const SENT = 2_000;
    const t0 = Date.now();
    // In bursts of 100 with a pause, so the loopback socket buffers drop nothing on either side.
    for (let i = 0; i < SENT; i += 100) {
      await Promise.all(Array.from({ length: 100 }, () => send(c.socket, req, relay)));
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 300));
    // A loaded machine may not have let serve answer yet: wait for its first reply (bounded).
    // The bound below grows with the wait, measured after it, so waiting cannot hide a flood.
    const deadline = Date.now() + 15_000;
    while (c.replies.length === 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    const elapsedS = (Date.now() - t0) / 1000;
    const bound = RATE.burst + RATE.perSecond * elapsedS;
    const bytesIn = SENT * wire(req.length);
    const bytesOut = c.replies.reduce((n, r) => n + wire(r.length), 0);
    process.stdout.write(
      `flood: ${SENT} requests in ${elapsedS.toFixed(2)} s → ${c.replies.length} replies ` +
        `(bound ${Math.floor(bound)}); bytes out/in on the wire ${(bytesOut / bytesIn).toFixed(2)}\n`,
    );
    expect(c.replies.length).toBeGreaterThan(0);
    expect(c.replies.length).toBeLessThanOrEqual(bound);
    expect(bytesOut / bytesIn).toBeLessThan(1);
    // The limit is on error replies to UDP sources only: a peer (here from the same loopback
    // address; TCP cannot be spoofed) still allocates while the flooder's bucket is empty.
    const { allocate } = await import('./serve-fixture.js');
    const honest = await peerWithCredentials(closers, s.url);
    expect((await allocate(closers, honest.creds, 'tcp')).relayedAddress.port).toBeGreaterThan(0);
  });
});
