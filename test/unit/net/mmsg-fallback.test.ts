/**
 * Without the addon (a copy of natpush where no compiler ran), `udpIo: 'mmsg'` falls back to
 * node:dgram with one warning line per process, and the STUN server still answers.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { nodeUdpNetwork } from '../../../src/net/index.js';
import { StunClient, StunServer } from '../../../src/stun/index.js';
import type { Logger } from '../../../src/util/logger.js';
import { TEST_RETRANSMISSION } from '../../support/test-retransmission.js';

vi.mock('../../../src/net/mmsg-binding.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../../src/net/mmsg-binding.js')>()),
  mmsgBinding: () => undefined,
  mmsgUnavailable: () => 'native/udp-mmsg/build/Release/udp_mmsg.node is not built (test)',
}));

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('udpIo mmsg without the addon', () => {
  it('warns once per process and answers on node:dgram', async () => {
    const warnings: string[] = [];
    const logger: Logger = {
      debug: () => {},
      info: () => {},
      warn: (msg) => warnings.push(msg),
      error: () => {},
    };
    for (let i = 0; i < 2; i++) {
      const server = await StunServer.start({
        listen: { address: '127.0.0.1', port: 0 },
        udpIo: 'mmsg',
        logger,
      });
      cleanup.push(() => server.close());
      const socket = await nodeUdpNetwork.bindUdp({ address: '127.0.0.1' });
      const client = new StunClient({ socket, retransmission: TEST_RETRANSMISSION });
      cleanup.push(
        () => socket.close(),
        () => client.close(),
      );
      const r = await client.binding(server.primary);
      expect(r.mapped.port).toBe(socket.address().port);
    }
    expect(warnings).toEqual([
      'udp-io mmsg unavailable, using node:dgram: native/udp-mmsg/build/Release/udp_mmsg.node is not built (test)',
    ]);
  });
});
