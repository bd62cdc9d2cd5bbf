/**
 * `natpush stun` as the CLI runs it (in-process, so no build is needed): the flags become a
 * working RFC 5780 server that our client can query.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseAlternate, runStun } from '../../../src/cli/commands/stun.js';
import { nodeUdpNetwork } from '../../../src/net/index.js';
import { MMSG_DEFAULTS } from '../../../src/net/mmsg-socket.js';
import { Attr, BINDING_REQUEST, StunClient, StunMessageBuilder } from '../../../src/stun/index.js';
import { mmsgOrSkip } from '../../unit/net/mmsg-support.js';
import { TEST_RETRANSMISSION } from '../../support/test-retransmission.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const MMSG = mmsgOrSkip();

describe('natpush stun', () => {
  it('--listen 127.0.0.1:0 --alternate :0 serves Binding and CHANGE-REQUEST', async () => {
    const lines: string[] = [];
    const server = await runStun(
      {
        listen: '127.0.0.1:0',
        alternate: ':0',
        tcp: true,
        'rate-limit': 200,
        'log-level': 'error',
      },
      (l) => lines.push(l),
    );
    cleanup.push(() => server.close());
    expect(lines[0]).toMatch(
      /^natpush stun: listening on udp 127\.0\.0\.1:\d+, udp 127\.0\.0\.1:\d+, tcp 127\.0\.0\.1:\d+$/,
    );
    expect(lines[1]).toMatch(/OTHER-ADDRESS 127\.0\.0\.1:\d+/);
    const socket = await nodeUdpNetwork.bindUdp({ address: '127.0.0.1' });
    const client = new StunClient({ socket, retransmission: TEST_RETRANSMISSION });
    cleanup.push(
      () => socket.close(),
      () => client.close(),
    );
    const r = await client.binding(server.server!.primary, {
      changeRequest: { port: true },
      anySource: true,
      padTo: 100,
    });
    expect(r.from.port).toBe(server.addresses().other!.port);
    expect(r.responseOrigin).toMatchObject({ address: r.from.address, port: r.from.port });
  });

  it.each(MMSG ? (['mmsg', 'dgram'] as const) : (['dgram'] as const))(
    '--udp-io %s: batched (a datagram longer than a slot is dropped, counted) or node:dgram',
    async (io) => {
      const server = await runStun(
        { listen: '127.0.0.1:0', tcp: false, 'udp-io': io, 'log-level': 'error' },
        () => {},
      );
      cleanup.push(() => server.close());
      const socket = await nodeUdpNetwork.bindUdp({ address: '127.0.0.1' });
      const client = new StunClient({ socket, retransmission: TEST_RETRANSMISSION });
      cleanup.push(
        () => socket.close(),
        () => client.close(),
      );
      const primary = server.server!.primary;
      const big = new StunMessageBuilder(BINDING_REQUEST)
        .addBytes(Attr.Padding, new Uint8Array(MMSG_DEFAULTS.slotBytes + 100))
        .build();
      socket.send(big, primary);
      await client.binding(primary); // read after the big one: it was handled first
      expect(await server.counters()).toMatchObject({
        received: io === 'mmsg' ? 1 : 2,
        dropped: { truncated: io === 'mmsg' ? 1 : 0 },
      });
    },
  );

  it('parses --alternate forms and refuses wildcards with an address', () => {
    const listen = { address: '203.0.113.1', port: 3478 };
    expect(parseAlternate(':3479', listen)).toEqual({ port: 3479 });
    expect(parseAlternate('203.0.113.2', listen)).toEqual({ address: '203.0.113.2' });
    expect(parseAlternate('203.0.113.2:3479', listen)).toEqual({
      address: '203.0.113.2',
      port: 3479,
    });
    expect(parseAlternate('[2001:db8::2]:3479', listen)).toMatchObject({
      address: '2001:db8::2',
      port: 3479,
    });
    expect(() => parseAlternate('203.0.113.2', { address: '0.0.0.0', port: 3478 })).toThrow(
      /concrete addresses/,
    );
    expect(() => parseAlternate('what:ever:x', listen)).toThrow(/--alternate/);
  });
});
