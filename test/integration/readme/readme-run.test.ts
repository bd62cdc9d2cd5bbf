/**
 * README blocks run as written here, on loopback, with only ports and paths swapped:
 * the set-up's `npx natpush serve` in this checkout, the `natpush relay` lines (a secret file,
 * static users, `relay mint`), and the `TurnClient` fragment with its free names defined. The
 * README's other lines call `npx natpush` too; in a temp dir they run the built CLI on PATH.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeUdpNetwork } from '../../../src/net/index.js';
import { TurnClient } from '../../../src/relay/client/client.js';
import { mintTurnCredentials } from '../../../src/relay/credentials.js';
import {
  natpushOnPath,
  runNodeModule,
  shellGroup,
  type ShellGroup,
} from '../../support/shell-group.js';
import { runNatpush } from '../signaling/natpush-process.js';
import { CLI, REPO, onPath, readmeBlock, writeExampleModule } from './readme.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

/** A temp dir with `bin/natpush` (the built CLI) for PATH, removed after the processes. */
function tmp(): { dir: string; bin: string } {
  const dir = mkdtempSync(join(tmpdir(), 'np-readme-run-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, bin: natpushOnPath(dir, CLI) };
}

/** Run one shell line in its own process group; killed (SIGKILL) and awaited after the test. */
function shell(line: string, o: { cwd: string; bin?: string }): ShellGroup {
  const s = shellGroup(line, o);
  cleanups.push(() => s.stop());
  return s;
}

/**
 * The README line of a block that contains `needle`, without its trailing comment, as run with
 * the built CLI on PATH (`npx natpush` → `natpush`, see onPath).
 */
function lineOf(block: string, needle: string): string {
  const line = block.split('\n').find((l) => l.includes(needle) && !l.startsWith('#'));
  if (!line) throw new Error(`no line with ${needle}`);
  expect(line, 'the README calls the CLI as `npx natpush`').toMatch(/^npx natpush /);
  return onPath(line.replace(/\s+#.*$/, ''));
}

describe('README set-up', () => {
  it('`npx natpush serve` in this checkout runs serve (ports and data dir swapped)', async () => {
    const { dir } = tmp();
    const line = readmeBlock('setup')
      .split('\n')[0]!
      .split('&&')
      .map((c) => c.trim())
      .find((c) => c.startsWith('npx natpush'));
    expect(line).toBe('npx natpush serve');
    // npx runs the bin through a link in its cache, made (and the target chmod'ed) only once per
    // checkout path: a rebuilt CLI must be executable by itself (scripts/bin-executable.mjs), or
    // a second clone at the same path fails with "natpush: Permission denied".
    expect(statSync(CLI).mode & 0o111, `${CLI} is not executable`).toBe(0o111);
    const s = shell(
      `${line} --port 0 --stun-port 0 --relay-port 0 --data-dir '${join(dir, 'data')}'`,
      { cwd: REPO },
    );
    const port = (await s.waitFor(/signaling listening on http:\/\/[\d.]+:(\d+)/))[1];
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    s.signal('SIGTERM');
    await s.waitFor(/natpush serve: stopped/);
    expect(s.out()).not.toMatch(/NATPUSH_ERR_SHUTDOWN_TIMEOUT/);
  }, 180_000);
});

describe('README: natpush relay', () => {
  async function allocate(port: number, username: string, password: string): Promise<string> {
    const turn = await TurnClient.allocate({
      server: { address: '127.0.0.1', port },
      username,
      password,
      net: nodeUdpNetwork,
    });
    const at = `${turn.relayedAddress.address}:${turn.relayedAddress.port}`;
    await turn.close();
    return at;
  }

  it("--secret-file: the block's secret file (mode 0600); TURN REST credentials minted from it allocate; SIGTERM exits 0", async () => {
    const { dir, bin } = tmp();
    // the block's first line makes the secret file: run it with /etc/natpush → this temp dir
    const make = readmeBlock('relay').split('\n')[0]!;
    expect(make).toMatch(/openssl rand .*> \/etc\/natpush\/turn-secret/);
    const mk = shell(make.replaceAll('/etc/natpush', join(dir, 'etc')), { cwd: dir });
    expect(await mk.exited, mk.out()).toBe(0);
    expect(statSync(join(dir, 'etc', 'turn-secret')).mode & 0o777).toBe(0o600);
    const secret = readFileSync(join(dir, 'etc', 'turn-secret'), 'utf8').trim();
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    const line = lineOf(readmeBlock('relay'), 'natpush relay --secret-file')
      .replace('/etc/natpush', join(dir, 'etc'))
      .trimEnd();
    const s = shell(`${line} --port 0`, { cwd: dir, bin });
    const port = Number((await s.waitFor(/turn listening on [\d.]+:(\d+) \(udp\)/))[1]);
    expect(s.out()).not.toMatch(/readable by other users/);
    const c = mintTurnCredentials(secret, 'alice', 600);
    expect(await allocate(port, c.username, c.password)).toMatch(/:\d+$/);
    s.signal('SIGTERM');
    expect(await s.exited).toBe(0);
  }, 120_000);

  it('--user alice:s3cret: that user allocates, and the command line secret is warned about', async () => {
    const { dir, bin } = tmp();
    const line = lineOf(readmeBlock('relay'), 'natpush relay --user')
      .replace('203.0.113.10', '127.0.0.1') // a documentation address: this host's loopback
      .trimEnd();
    const [, user, password] = /--user (\w+):(\S+)/.exec(line)!;
    const s = shell(`${line} --port 0`, { cwd: dir, bin });
    const port = Number((await s.waitFor(/turn listening on 127\.0\.0\.1:(\d+) \(udp\)/))[1]);
    expect(await allocate(port, user!, password!)).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(s.out()).toMatch(/warning: --user puts a secret on the command line/);
    s.signal('SIGTERM');
    expect(await s.exited).toBe(0);
  }, 120_000);

  it('relay mint prints what the README shows', async () => {
    const { dir, bin } = tmp();
    writeFileSync(join(dir, 'turn-secret'), 'the-secret\n', { mode: 0o600 });
    const block = readmeBlock('relay');
    const line = lineOf(block, 'natpush relay mint').replace(
      '/etc/natpush/turn-secret',
      join(dir, 'turn-secret'),
    );
    const shown = JSON.parse(/^# (\{.*\})$/m.exec(block)![1]!.replace('…', 'x')) as Record<
      string,
      unknown
    >;
    const s = shell(line, { cwd: dir, bin });
    expect(await s.exited).toBe(0);
    const printed = JSON.parse(/^\{.*\}$/m.exec(s.out())![0]) as Record<string, unknown>;
    expect(Object.keys(printed)).toEqual(Object.keys(shown));
    expect(printed.ttl).toBe(shown.ttl);
    expect(printed.username).toBe(`${printed.expiresAt}:alice`);
    expect(shown.username).toBe(`${shown.expiresAt}:alice`);
    // the password is the REST HMAC of that username under the secret file's secret
    const expiresAt = Number(printed.expiresAt);
    expect(printed.password).toBe(
      mintTurnCredentials('the-secret', 'alice', 3600, (expiresAt - 3600) * 1000).password,
    );
  }, 60_000);
});

describe('README: TurnClient from a program', () => {
  it('the fragment runs once its free names are defined: bob gets the bytes from the relayed address', async () => {
    const { dir } = tmp();
    const secret = randomBytes(16).toString('hex');
    writeFileSync(join(dir, 'turn-secret'), `${secret}\n`, { mode: 0o600 });
    const relay = runNatpush([
      'relay',
      '--listen',
      '127.0.0.1',
      '--port',
      '0',
      '--secret-file',
      join(dir, 'turn-secret'),
      '--allow-loopback-peers', // bob is a loopback socket
    ]);
    cleanups.push(() => relay.kill());
    const port = (await relay.waitFor(/turn listening on 127\.0\.0\.1:(\d+) \(udp\)/, 90_000))[1]!;
    const fragment = readmeBlock('turn-client');
    const [imports, ...rest] = fragment.split(/\n\n/);
    expect(imports).toMatch(/^import \{[^}]*\} from 'natpush';$/);
    // What the fragment leaves to the reader: the secret, the peer's UDP socket, bob's relayed
    // address and the bytes; here bob is a plain UDP socket on loopback.
    const defined = [
      "import { net as npNet } from 'natpush';",
      'const secret = process.env.TURN_SECRET;',
      "const peerSocket = await npNet.nodeUdpNetwork.bindUdp({ address: '127.0.0.1', port: 0 });",
      "const bob = await npNet.nodeUdpNetwork.bindUdp({ address: '127.0.0.1', port: 0 });",
      'const bobRelayed = bob.address();',
      "const bytes = new TextEncoder().encode('hello bob');",
      'const got = new Promise((r) => bob.onMessage((data, from) => r({ data, from })));',
    ].join('\n');
    const after = [
      'const { data, from } = await got;',
      'const relayed = `${turn.relayedAddress.address}:${turn.relayedAddress.port}`;',
      'console.log(`bob got "${Buffer.from(data)}" from ${from.address}:${from.port}, relayed ${relayed}`);',
      'await turn.close();',
      'await Promise.all([peerSocket.close(), bob.close()]);',
    ].join('\n');
    const body = rest
      .join('\n\n')
      .replace("address: '203.0.113.10', port: 3478", `address: '127.0.0.1', port: ${port}`);
    expect(body).toContain(`port: ${port}`);
    const file = writeExampleModule(`${imports}\n${defined}\n\n${body}\n${after}\n`);
    cleanups.push(() => rmSync(file, { force: true }));
    const run = runNodeModule(file, REPO, { TURN_SECRET: secret });
    cleanups.push(() => run.kill());
    expect(await run.exited, run.out()).toBe(0);
    const out = run.out();
    const m = /^bob got "hello bob" from ([\d.]+:\d+), relayed ([\d.]+:\d+)$/m.exec(out);
    expect(m, out).not.toBeNull();
    expect(m![1]).toBe(m![2]); // it came out of the allocation's relayed address
  }, 120_000);
});

describe('README: natpush stun, then nat-check against it', () => {
  /** A UDP port free on this loopback address right now (the stun line needs a fixed alternate
   *  port with --workers; another process may take it before stun binds: the caller retries). */
  async function freeUdpPort(address: string): Promise<number> {
    const s = await nodeUdpNetwork.bindUdp({ address, port: 0 });
    const { port } = s.address();
    await s.close();
    return port;
  }

  it('the stun line (with --workers 2 --rate-limit 200) answers RFC 5780, and nat-check --json reads it', async () => {
    const { dir, bin } = tmp();
    // documentation addresses → two loopback addresses of this host; ports → free ones
    const stunBlock = readmeBlock('stun').trim();
    expect(stunBlock).toMatch(/^npx natpush stun /); // as a newcomer runs it in the checkout
    const stunLine = onPath(stunBlock)
      .replace(/\[([^\]]*)\]/g, '$1') // the optional parts are run too
      .replace(/\s+/g, ' ');
    let s: ShellGroup | undefined;
    let port = '';
    for (let attempt = 0; attempt < 3 && !port; attempt++) {
      const alt = await freeUdpPort('127.0.0.2');
      const line = stunLine
        .replace('203.0.113.10:3478', '127.0.0.1:0')
        .replace('198.51.100.10:3479', `127.0.0.2:${alt}`);
      expect(line).toBe(
        `natpush stun --listen 127.0.0.1:0 --alternate 127.0.0.2:${alt} --workers 2 --rate-limit 200`,
      );
      s = shell(line, { cwd: dir, bin });
      const started = await Promise.race([
        s.waitFor(/listening on udp 127\.0\.0\.1:(\d+)/).then((m) => m[1]!),
        s.exited.then(() => ''), // a port taken meanwhile: try another
      ]);
      port = started;
    }
    expect(port, s?.out()).not.toBe('');
    const check = onPath(readmeBlock('nat-check'))
      .trim()
      .replace(/\[--server another:3478 \.\.\.\]/, '') // a second server: there is one here
      .replace(/\[--lifetime \d+\]/, '') // idles that long: measured in test/netsim/nat-check.test.ts
      .replace(/\[([^\]]*)\]/g, '$1')
      .replace('203.0.113.10:3478', `127.0.0.1:${port}`)
      .replace(/\s+/g, ' ')
      .trim();
    expect(check).toBe(`natpush nat-check --server 127.0.0.1:${port} --json`);
    const n = shell(check, { cwd: dir, bin });
    expect(await n.exited, n.out()).toBe(0);
    const report = JSON.parse(
      n.out().slice(n.out().indexOf('{'), n.out().lastIndexOf('}') + 1),
    ) as {
      udp: boolean;
      servers: { otherAddress?: { address: string } }[];
      mapping: string;
      filtering: string;
    };
    expect(report.udp).toBe(true);
    expect(report.servers[0]!.otherAddress?.address).toBe('127.0.0.2'); // RFC 5780 OTHER-ADDRESS
    // no NAT on loopback: both RFC 5780 tests find nothing in the way
    expect(report.mapping).toBe('endpoint-independent');
    expect(report.filtering).toBe('endpoint-independent');
    s!.signal('SIGTERM');
    expect(await s!.exited).toBe(0);
  }, 180_000);
});
