/**
 * The bare Binding request's template answer (binding-responder.ts) is byte for byte the general
 * path's answer, for every transport address of an RFC 5780 grid, with and without SOFTWARE,
 * and anything that is not a bare IPv4 request still takes the general path.
 */
import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../src/net/index.js';
import {
  respond,
  type ResponderConfig,
  type ServerGrid,
} from '../../../src/stun/binding-responder.js';
import {
  Attr,
  decodeStunMessage,
  Method,
  readXorAddress,
  StunClass,
  StunMessageBuilder,
} from '../../../src/stun/index.js';

const GRID: ServerGrid = [
  [
    { address: '192.0.2.1', port: 3478 },
    { address: '192.0.2.1', port: 3479 },
  ],
  [
    { address: '192.0.2.2', port: 3478 },
    { address: '192.0.2.2', port: 3479 },
  ],
];
const CONFIGS: [string, ResponderConfig][] = [
  ['RFC 5780 grid, SOFTWARE', { grid: GRID, software: 'natpush', maxAmplification: 2 }],
  ['RFC 5780 grid, no SOFTWARE', { grid: GRID, software: undefined, maxAmplification: 2 }],
  [
    'one wildcard address',
    {
      grid: [
        [{ address: '0.0.0.0', port: 3478 }, undefined],
        [undefined, undefined],
      ],
      software: 'natpush',
      maxAmplification: 2,
    },
  ],
];
const AT: (readonly [number, number])[] = [
  [0, 0],
  [0, 1],
  [1, 0],
  [1, 1],
];

const bytesOf = (d: ReturnType<typeof respond>): Uint8Array => {
  if (d.kind !== 'reply') throw new Error(`no reply: ${d.reason}`);
  return Uint8Array.from(d.bytes);
};

describe('bare Binding request: template answer = general answer', () => {
  it.each(CONFIGS)('%s', (_name, config) => {
    const froms: Endpoint[] = [
      { address: '198.51.100.7', port: 40000 },
      { address: '10.0.0.1', port: 1 },
      { address: '255.255.255.255', port: 65535 },
      { address: '0.0.0.0', port: 0 },
    ];
    for (const at of AT) {
      if (!config.grid[at[0]]![at[1]]) continue;
      for (const from of froms) {
        const req = StunMessageBuilder.of(Method.Binding, StunClass.Request).build();
        const fast = bytesOf(respond(config, req, from, at, 'udp'));
        // Over TCP the template is never used, and for a request without CHANGE-REQUEST or
        // RESPONSE-PORT the answer is the same.
        const general = bytesOf(respond(config, req, from, at, 'tcp'));
        expect(Buffer.from(fast).toString('hex')).toBe(Buffer.from(general).toString('hex'));
        const res = decodeStunMessage(fast);
        expect(Buffer.from(res.transactionId).toString('hex')).toBe(
          Buffer.from(req.subarray(8, 20)).toString('hex'),
        );
        expect(readXorAddress(res, Attr.XorMappedAddress)).toMatchObject(from);
      }
    }
  });

  it('an IPv6 or IPv4-mapped client, or a request with attributes, takes the general path', () => {
    const [, config] = CONFIGS[0]!;
    for (const from of [
      { address: '2001:db8::1', port: 5 },
      { address: '::ffff:198.51.100.7', port: 5 },
    ]) {
      const req = StunMessageBuilder.of(Method.Binding, StunClass.Request).build();
      const res = decodeStunMessage(bytesOf(respond(config, req, from, [0, 0], 'udp')));
      expect(readXorAddress(res, Attr.XorMappedAddress)?.port).toBe(5);
    }
    const withFingerprint = StunMessageBuilder.of(Method.Binding, StunClass.Request)
      .addFingerprint()
      .build();
    const res = decodeStunMessage(
      bytesOf(
        respond(config, withFingerprint, { address: '198.51.100.7', port: 9 }, [0, 0], 'udp'),
      ),
    );
    expect(res.fingerprintOffset).toBeGreaterThan(0);
  });

  it('a malformed dotted quad is not taken for an address', () => {
    const [, config] = CONFIGS[0]!;
    const req = StunMessageBuilder.of(Method.Binding, StunClass.Request).build();
    for (const address of ['1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', 'a.b.c.d']) {
      // Not an address a socket reports; the general path's encoder decides (here: it throws or
      // answers), but never the template with a wrong number.
      let d;
      try {
        d = respond(config, req, { address, port: 1 }, [0, 0], 'udp');
      } catch {
        continue;
      }
      if (d.kind === 'reply') {
        const m = decodeStunMessage(Uint8Array.from(d.bytes));
        expect(readXorAddress(m, Attr.XorMappedAddress)?.address).not.toBe('0.0.0.0');
      }
    }
  });
});
