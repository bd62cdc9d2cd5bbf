/**
 * `natpush nat-check` in-process against our RFC 5780 server on loopback (127.0.0.1 and
 * 127.0.0.2 as the two addresses): no NAT here, so "open", and the text report says so.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { runNatCheck } from '../../../src/cli/commands/nat-check.js';
import { StunServer, formatNatReport } from '../../../src/stun/index.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('natpush nat-check on loopback', () => {
  it('classifies the open loopback network against a full RFC 5780 server, UDP and TCP', async () => {
    const server = await StunServer.start({
      listen: { address: '127.0.0.1', port: 0 },
      alternate: { address: '127.0.0.2', port: 0 },
      tcp: true,
    });
    cleanup.push(() => server.close());
    const report = await runNatCheck({
      server: [`127.0.0.1:${server.primary.port}`],
      json: false,
      lifetime: 0,
      tcp: true,
    });
    expect(report).toMatchObject({
      udp: true,
      tcp: true,
      behindNat: false,
      mapping: 'endpoint-independent',
      filtering: 'endpoint-independent',
      kind: 'open',
    });
    const text = formatNatReport(report);
    expect(text).toMatch(/NAT type\s+no NAT, no filtering/);
    expect(text).toMatch(/Relay needed\s+never/);
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });

  it('refuses to run without a server', async () => {
    await expect(runNatCheck({ server: [], json: false, lifetime: 0, tcp: false })).rejects.toThrow(
      /--server/,
    );
  });
});
