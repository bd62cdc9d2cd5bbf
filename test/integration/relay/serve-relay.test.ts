/**
 * The relay as composed by `natpush serve`: a TURN secret generated once into the data dir (0600),
 * reused on restart, and credentials minted from it accepted over UDP and TCP.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startServeRelay } from '../../../src/cli/commands/relay.js';
import { nodeUdpNetwork } from '../../../src/net/index.js';
import { TurnClient } from '../../../src/relay/client/client.js';
import { mintTurnCredentials } from '../../../src/relay/credentials.js';
import { silentLogger } from '../../../src/util/logger.js';

const cleanup: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup.length = 0;
});

describe('natpush serve: TURN relay', () => {
  it('generates the TURN secret once (0600), keeps it, and accepts credentials minted from it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'natpush-serve-relay-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const opts = { dataDir: dir, host: '127.0.0.1', port: 0, logger: silentLogger };
    const first = await startServeRelay(opts);
    await first.server.close();
    const relay = await startServeRelay(opts);
    cleanup.push(() => relay.server.close());
    expect(relay.secretFile).toBe(join(dir, 'turn-secret'));
    expect(statSync(relay.secretFile!).mode & 0o777).toBe(0o600);
    const secret = readFileSync(relay.secretFile!, 'utf8').trim();
    expect(secret.length).toBeGreaterThanOrEqual(40);
    expect(relay.endpoints).toHaveLength(2);

    const { udp, tcp } = relay.server.addresses();
    for (const [server, transport] of [
      [udp, 'udp'],
      [tcp!, 'tcp'],
    ] as const) {
      const creds = mintTurnCredentials(secret, 'peer-1', 60);
      const c = await TurnClient.allocate({ server, transport, net: nodeUdpNetwork, ...creds });
      cleanup.push(() => c.close());
      expect(c.relayedAddress.port).toBeGreaterThan(0);
    }
    const bad = mintTurnCredentials('not-the-secret', 'peer-2', 60);
    await expect(
      TurnClient.allocate({ server: udp, net: nodeUdpNetwork, ...bad }),
    ).rejects.toMatchObject({ status: 401 });
  });
});
