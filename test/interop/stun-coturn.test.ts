/**
 * STUN interop with coturn (Debian package `coturn`), both ways, on loopback:
 * - coturn's turnutils_stunclient and turnutils_natdiscovery against our server (RFC 5780 with
 *   127.0.0.1/127.0.0.2 as the two addresses);
 * - our client and NAT discovery against coturn's turnserver in RFC 5780 mode.
 */
import { execFile } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeUdpNetwork } from '../../src/net/index.js';
import { StunClient, StunServer, discoverNat } from '../../src/stun/index.js';
import { TEST_RETRANSMISSION } from '../support/test-retransmission.js';
import { startCoturnStun } from '../../bench/lib/coturn-stun.js';
import { missingPrereq } from '../support/prereq.js';

const skip = missingPrereq('interop', {
  commands: {
    turnserver: 'coturn',
    turnutils_stunclient: 'coturn',
    turnutils_natdiscovery: 'coturn',
  },
});

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) =>
      err
        ? reject(new Error(`${cmd} failed: ${String(err)}\n${stdout}${stderr}`))
        : resolve(stdout + stderr),
    ),
  );
}

async function ourServer(): Promise<StunServer> {
  const server = await StunServer.start({
    listen: { address: '127.0.0.1', port: 0 },
    alternate: { address: '127.0.0.2', port: 0 },
  });
  cleanup.push(() => server.close());
  return server;
}

async function coturn5780(): Promise<{ port: number; altPort: number }> {
  const c = await startCoturnStun({ rfc5780: true });
  cleanup.push(() => c.stop());
  return c;
}

describe.skipIf(skip)('STUN interop with coturn', () => {
  it('turnutils_stunclient -f gets RFC 5780 answers from our server', async () => {
    const server = await ourServer();
    const out = await run('turnutils_stunclient', [
      '-f',
      '-p',
      String(server.primary.port),
      '127.0.0.1',
    ]);
    expect(out).toMatch(/UDP reflexive addr: 127\.0\.0\.1:\d+/);
    const other = `127.0.0.2:${server.other!.port}`;
    expect(out).toContain(`Other addr: : ${other}`);
    // The CHANGE-REQUEST (ip + port) answers come from the other address.
    expect(out).toContain(`Response origin: : ${other}`);
    expect(server.stats.answered.change).toBeGreaterThan(0);
  });

  it('turnutils_natdiscovery classifies loopback through our server as endpoint-independent', async () => {
    const server = await ourServer();
    const out = await run('turnutils_natdiscovery', [
      '-m',
      '-f',
      '-p',
      String(server.primary.port),
      '127.0.0.1',
    ]);
    expect(out).toContain('NAT with Endpoint Independent Mapping!');
    expect(out).toContain('NAT with Endpoint Independent Filtering!');
  });

  it('our client gets its reflexive address and OTHER-ADDRESS from turnserver', async () => {
    const { port, altPort } = await coturn5780();
    const socket = await nodeUdpNetwork.bindUdp({ address: '127.0.0.1' });
    const client = new StunClient({ socket, retransmission: TEST_RETRANSMISSION });
    cleanup.push(
      () => socket.close(),
      () => client.close(),
    );
    const r = await client.binding({ address: '127.0.0.1', port });
    expect(r.mapped).toMatchObject({ address: '127.0.0.1', port: socket.address().port });
    expect(r.otherAddress).toMatchObject({ address: '127.0.0.2', port: altPort });
    const changed = await client.binding(
      { address: '127.0.0.1', port },
      { changeRequest: { ip: true, port: true }, anySource: true },
    );
    expect(changed.from).toMatchObject({ address: '127.0.0.2', port: altPort });
  });

  it('our NAT discovery against turnserver: loopback is open', async () => {
    const { port } = await coturn5780();
    const report = await discoverNat({
      net: nodeUdpNetwork,
      servers: [{ address: '127.0.0.1', port }],
      bindAddress: '127.0.0.1',
    });
    expect(report).toMatchObject({
      udp: true,
      behindNat: false,
      mapping: 'endpoint-independent',
      filtering: 'endpoint-independent',
      kind: 'open',
    });
  });
});
