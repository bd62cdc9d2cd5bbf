/**
 * The relay's one-pass Data indication (src/relay/data-indication.ts): byte for byte what
 * StunMessageBuilder writes for the same transaction id, for every family and padding, and its
 * per-allocation peer cache never answers for another peer.
 */
import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../src/net/index.js';
import { encodeDataIndication, PeerAddressCache } from '../../../src/relay/data-indication.js';
import {
  Attr,
  decodeStunMessage,
  Method,
  readXorAddress,
  StunClass,
  StunMessageBuilder,
} from '../../../src/stun/index.js';

const PEERS: Endpoint[] = [
  { address: '198.51.100.20', port: 5000, family: 'IPv4' },
  { address: '203.0.113.7', port: 0 },
  { address: '192.0.2.1', port: 65535 },
  { address: '2001:db8::1', port: 3478, family: 'IPv6' },
  { address: '2001:db8:85a3::8a2e:370:7334', port: 40000 },
  { address: '::ffff:198.51.100.9', port: 9, family: 'IPv6' },
];

function viaBuilder(out: Uint8Array, peer: Endpoint, data: Uint8Array): Uint8Array {
  return StunMessageBuilder.of(Method.Data, StunClass.Indication, out.subarray(8, 20))
    .addXorAddress(Attr.XorPeerAddress, peer)
    .addBytes(Attr.Data, data)
    .build();
}

describe('encodeDataIndication', () => {
  it.each(PEERS)('is what StunMessageBuilder writes, from $address port $port', (peer) => {
    for (let len = 0; len <= 9; len++) {
      const data = Uint8Array.from({ length: len }, (_, i) => i + 1);
      const out = encodeDataIndication(peer, data);
      expect(Buffer.from(out).toString('hex')).toBe(
        Buffer.from(viaBuilder(out, peer, data)).toString('hex'),
      );
      const msg = decodeStunMessage(out);
      expect([msg.method, msg.cls]).toEqual([Method.Data, StunClass.Indication]);
      expect(Array.from(msg.get(Attr.Data)!)).toEqual(Array.from(data));
    }
  });

  it('draws a new transaction id for every indication', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 100; i++) {
      ids.add(
        Buffer.from(encodeDataIndication(PEERS[0]!, new Uint8Array(4)).subarray(8, 20)).toString(
          'hex',
        ),
      );
    }
    expect(ids.size).toBe(100);
  });

  it('a cached peer address answers only for the same address and port', () => {
    const cache = new PeerAddressCache();
    const data = new Uint8Array([1, 2, 3]);
    // Alternating peers, the same address on another port, IPv6 after IPv4 and back, and each
    // peer's address a new string (as node:dgram gives it).
    const order = [0, 0, 3, 3, 0, 1, 4, 4, 5, 2, 2, 0].map((i) => PEERS[i]!);
    order.push({ address: '198.51.100.20', port: 5001, family: 'IPv4' });
    for (const p of order) {
      const peer = { ...p, address: (' ' + p.address).slice(1) };
      const out = encodeDataIndication(peer, data, cache);
      const got = readXorAddress(decodeStunMessage(out), Attr.XorPeerAddress)!;
      expect(got.port).toBe(p.port);
      expect(Buffer.from(out).toString('hex')).toBe(
        Buffer.from(viaBuilder(out, peer, data)).toString('hex'),
      );
    }
  });

  it('a peer address that does not parse throws and leaves the cache right for the next', () => {
    const cache = new PeerAddressCache();
    const good = PEERS[0]!;
    encodeDataIndication(good, new Uint8Array(1), cache);
    expect(() =>
      encodeDataIndication(
        { address: '198.51.100.999', port: 1, family: 'IPv4' },
        new Uint8Array(1),
        cache,
      ),
    ).toThrow(TypeError);
    expect(() =>
      encodeDataIndication({ address: '1.2.3.4', port: 70000 }, new Uint8Array(1), cache),
    ).toThrow(RangeError);
    const out = encodeDataIndication(good, new Uint8Array(1), cache);
    expect(readXorAddress(decodeStunMessage(out), Attr.XorPeerAddress)).toMatchObject({
      address: good.address,
      port: good.port,
    });
  });
});
