/**
 * `natpush relay --workers 2` (built CLI): two relay processes on --port+1 and --port+2 behind a
 * director on --port that answers Allocate with 300 Try Alternate; our client follows it, the two
 * allocations land on different workers (processes, so different cores), and data flows between
 * them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { nodeUdpNetwork } from '../../../src/net/index.js';
import { TurnClient } from '../../../src/relay/client/client.js';
import { startRelayWorkers } from '../../support/relay-workers.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup.length = 0;
});

describe('natpush relay --workers', () => {
  it('directs Allocates round robin to worker processes, and data flows between them', async () => {
    const relay = await startRelayWorkers('w:pw');
    cleanup.push(() => relay.stop());
    const port = relay.port;
    const server = { address: '127.0.0.1', port };
    const a = await TurnClient.allocate({
      server,
      username: 'w',
      password: 'pw',
      net: nodeUdpNetwork,
    });
    cleanup.push(() => a.close());
    const b = await TurnClient.allocate({
      server,
      username: 'w',
      password: 'pw',
      transport: 'tcp',
    });
    cleanup.push(() => b.close());
    expect(new Set([a.server.port, b.server.port])).toEqual(new Set([port + 1, port + 2]));
    await a.bindChannel(b.relayedAddress);
    await b.bindChannel(a.relayedAddress);
    const got = new Promise<number[]>((r) => b.onData((d) => r([...d])));
    a.send(b.relayedAddress, Uint8Array.of(1, 2, 3));
    expect(await got).toEqual([1, 2, 3]);
  });
});
