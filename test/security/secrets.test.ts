/**
 * Issue 8, finding 11 (the relay-side parts):
 * - secrets on argv: /proc/PID/cmdline is readable by every local user, so `--api-key`,
 *   `--turn-secret`, `--peer-token` and the relay workers' `--secret` handed the secrets to all
 *   of them. Now they come from `--*-file` or NATPUSH_API_KEY / NATPUSH_TURN_SECRET /
 *   NATPUSH_PEER_TOKEN; relay workers get theirs in their environment; the old flags still work
 *   and warn on stderr.
 * - `--relay-public-address` never reached the relay: behind a 1:1 NAT it advertised its private
 *   address in XOR-RELAYED-ADDRESS. Now an IP given there is what the relay advertises.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeUdpNetwork } from '../../src/net/index.js';
import { TurnClient } from '../../src/relay/client/client.js';
import { mintTurnCredentials } from '../../src/relay/credentials.js';
import { generateIdentity } from '../../src/signaling/identity.js';
import { expectFatal, post, RawClient } from '../integration/signaling/helpers.js';
import {
  allocate,
  peerWithCredentials,
  spawnNatpush,
  startServe,
  turnEndpoint,
  type Closer,
} from './serve-fixture.js';

const closers: Closer[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

const API_KEY = 'api-key-0123456789-SECRET';
const TURN_SECRET = 'turn-secret-0123456789-SECRET';
const PEER_TOKEN = 'peer-token-0123456789-SECRET';

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'natpush-secrets-'));
  closers.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function cmdline(pid: number): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
}

/** Direct children of `pid` (the relay workers of a director). */
function childrenOf(pid: number): number[] {
  const kids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) kids.push(Number(e));
    } catch {
      // the process ended while we looked
    }
  }
  return kids;
}

/** `key` is an API key of the server at `url` (a wrong one gets 401, the right one does not). */
async function expectApiKey(url: string, key: string): Promise<void> {
  const to = `${url}/v1/peers/${generateIdentity().peerId}/notifications`;
  expect((await post(to, { body: 'x' }, { authorization: 'Bearer wrong-key' })).status).toBe(401);
  const r = await post(to, { body: 'x' }, { authorization: `Bearer ${key}` });
  expect(r.status).not.toBe(401);
  expect(r.status).toBeLessThan(500);
}

describe('secrets never on argv (finding 11)', () => {
  it('serve takes its API key, TURN secret and peer token from the environment; none is in its cmdline', async () => {
    const dir = tempDir();
    const p = spawnNatpush(
      [
        'serve',
        '--host=127.0.0.1',
        '--port=0',
        '--stun-port=0',
        '--relay-port=0',
        '--store=memory',
        `--data-dir=${dir}`,
      ],
      {
        NATPUSH_API_KEY: API_KEY,
        NATPUSH_TURN_SECRET: TURN_SECRET,
        NATPUSH_PEER_TOKEN: PEER_TOKEN,
      },
    );
    closers.push(() => p.kill());
    const url = (await p.waitFor(/signaling listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
    const line = cmdline(p.child.pid!);
    for (const s of [API_KEY, TURN_SECRET, PEER_TOKEN]) expect(line).not.toContain(s);
    expect(p.err()).not.toMatch(/warning/);
    // They are in force: the API key posts, the peer token is required, the TURN secret is the
    // relay's (credentials minted from it locally are accepted).
    await expectApiKey(url, API_KEY);
    const anon = await RawClient.open(url);
    closers.push(() => anon.ws.terminate());
    const refused = anon.login();
    refused.catch(() => {});
    expect((await expectFatal(anon)).code).toMatch(/^NATPUSH_ERR_/);
    const member = await RawClient.open(url);
    closers.push(() => member.ws.terminate());
    await member.login(generateIdentity(), PEER_TOKEN);
    member.send({ type: 'turn-credentials', ref: 't' });
    const creds = await member.wait('turn-credentials');
    const mine = mintTurnCredentials(TURN_SECRET, 'probe', 60);
    const t = await TurnClient.allocate({
      server: turnEndpoint(creds, 'udp'),
      net: nodeUdpNetwork,
      username: mine.username,
      password: mine.password,
    });
    closers.push(() => t.close());
    expect(t.relayedAddress.port).toBeGreaterThan(0);
  });

  it('serve reads --*-file secrets; the old flags still work but warn on stderr', async () => {
    const dir = tempDir();
    const keyFile = join(dir, 'key');
    writeFileSync(keyFile, API_KEY + '\n', { mode: 0o600 });
    const p = spawnNatpush([
      'serve',
      '--host=127.0.0.1',
      '--port=0',
      '--no-stun',
      '--relay-port=0',
      '--store=memory',
      `--data-dir=${dir}`,
      `--api-key-file=${keyFile}`,
      '--turn-secret',
      TURN_SECRET,
    ]);
    closers.push(() => p.kill());
    const url = (await p.waitFor(/signaling listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
    expect(cmdline(p.child.pid!)).not.toContain(API_KEY);
    expect(p.err()).toMatch(/warning: --turn-secret puts a secret on the command line/);
    await expectApiKey(url, API_KEY);
  });

  it('relay workers get the secret over IPC, not on their command line or in their environment', async () => {
    // redirect mode: runs on Node 20 too (the default, SO_REUSEPORT, needs Node >= 22.12); the
    // relay picks its ports and reports the director's (never a free port then the next N).
    const p = spawnNatpush(
      [
        'relay',
        '--workers=2',
        '--workers-mode=redirect',
        '--listen=127.0.0.1',
        '--port=0',
        '--allow-loopback-peers',
        '--secret',
        TURN_SECRET,
      ],
      { NATPUSH_TURN_USERS: 'alice:alice-password-SECRET' },
    );
    closers.push(async () => {
      p.child.kill('SIGTERM');
      await p.exited;
    });
    const until = Date.now() + 15_000;
    while (!p.err().includes('"role":"director"') && p.child.exitCode === null) {
      if (Date.now() > until) throw new Error(p.err());
      await new Promise((r) => setTimeout(r, 50));
    }
    const port = Number(/"role":"director","udp":"127\.0\.0\.1:(\d+)"/.exec(p.err())?.[1]);
    expect(p.err()).toMatch(/warning: --secret puts a secret on the command line/);
    const workers = childrenOf(p.child.pid!);
    expect(workers).toHaveLength(2);
    for (const w of workers) {
      const line = cmdline(w);
      expect(line).toMatch(/worker-main/);
      expect(line).not.toContain(TURN_SECRET);
      expect(line).not.toContain('alice-password-SECRET');
      const environ = readFileSync(`/proc/${w}/environ`, 'utf8');
      expect(environ).not.toContain(TURN_SECRET);
      expect(environ).not.toContain('alice-password-SECRET');
    }
    // The workers do accept both kinds of credentials (the director sends us to one of them).
    const rest = mintTurnCredentials(TURN_SECRET, 'bob', 60);
    for (const creds of [rest, { username: 'alice', password: 'alice-password-SECRET' }]) {
      const t = await TurnClient.allocate({
        server: { address: '127.0.0.1', port },
        net: nodeUdpNetwork,
        ...creds,
      });
      closers.push(() => t.close());
      expect(t.relayedAddress.port).toBeGreaterThan(0);
    }
  });
});

describe('--relay-public-address reaches the relay (finding 11)', () => {
  it('is advertised in XOR-RELAYED-ADDRESS and in the turn: URLs', async () => {
    const s = await startServe(closers, ['--relay-public-address=192.0.2.77']);
    const alice = await peerWithCredentials(closers, s.url);
    expect(alice.creds.urls.every((u) => u.startsWith('turn:192.0.2.77:'))).toBe(true);
    // 192.0.2.77 stands for the NAT in front of this host: allocate on the real listener.
    const real = {
      ...alice.creds,
      urls: alice.creds.urls.map((u) => u.replace('192.0.2.77', '127.0.0.1')),
    };
    const t = await allocate(closers, real, 'udp');
    expect(t.relayedAddress.address).toBe('192.0.2.77');
  });
});
