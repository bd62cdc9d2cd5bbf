/**
 * Without the udp_mmsg addon (a copy of natpush where no compiler ran, another OS), a Peer asked
 * for `udpIo: 'mmsg'` uses node:dgram and says so once per process through its logger. A
 * `udpIo` that is neither I/O is misuse: TypeError, before anything starts.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Peer } from '../../../src/peer/peer.js';
import { generateIdentity } from '../../../src/signaling/identity.js';
import type { Logger } from '../../../src/util/logger.js';

vi.mock('../../../src/net/mmsg-binding.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../../src/net/mmsg-binding.js')>()),
  mmsgBinding: () => undefined,
  mmsgUnavailable: () => 'native/udp-mmsg/build/Release/udp_mmsg.node is not built (test)',
}));

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

describe('Peer udpIo mmsg without the addon', () => {
  it('warns once per process', async () => {
    const warnings: string[] = [];
    const logger: Logger = {
      debug: () => {},
      info: () => {},
      warn: (msg) => warnings.push(msg),
      error: () => {},
    };
    for (let i = 0; i < 2; i++) {
      // No server answers: the Peer keeps trying; its network was chosen when it was made.
      const p = Peer.open({
        server: 'http://127.0.0.1:9',
        identity: generateIdentity(),
        logger,
        udpIo: 'mmsg',
        portmap: false,
        portPrediction: false,
      });
      p.ready().catch(() => {});
      cleanups.push(() => p.close());
    }
    expect(warnings).toEqual([
      'udp-io mmsg unavailable, using node:dgram: native/udp-mmsg/build/Release/udp_mmsg.node is not built (test)',
    ]);
  });

  it('refuses a udpIo that is neither I/O', () => {
    expect(() =>
      Peer.open({
        server: 'http://127.0.0.1:9',
        identity: generateIdentity(),
        udpIo: 'uring' as 'mmsg',
      }),
    ).toThrow(TypeError);
  });
});
