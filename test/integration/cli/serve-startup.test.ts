/**
 * `natpush serve` start-up is all or nothing: when a later service (STUN) cannot bind, the
 * services already started (signaling, relay) are closed again, so nothing stays listening.
 */
import { createSocket } from 'node:dgram';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yargs, { type Argv } from 'yargs';
import { afterEach, describe, expect, it } from 'vitest';
import { serveCommand, startServices, type ServeArgs } from '../../../src/cli/commands/serve.js';
import { silentLogger } from '../../../src/util/logger.js';

const closers: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** A TCP port that was free a moment ago (the kernel's pick). */
async function freeTcpPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * The TCP sockets of this process listening on `port` (inodes): /proc/net/tcp{,6} lists the
 * namespace's sockets, /proc/self/fd this process's. Unlike a test bind of the port, another
 * process's socket on it (a parallel test's, the port being the kernel's pick) does not count.
 */
function ownListeners(port: number): string[] {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const listening = new Set<string>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const c = line.trim().split(/\s+/);
      // local_address is ADDR:PORT in hex; st 0A is LISTEN; the inode is the 10th column.
      if (c.length > 9 && c[1]!.endsWith(`:${hex}`) && c[3] === '0A') listening.add(c[9]!);
    }
  }
  const own: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    let target = '';
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode && listening.has(inode)) own.push(inode);
  }
  return own;
}

describe('natpush serve start-up', () => {
  it('closes signaling and relay again when the STUN port is taken', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'natpush-serve-startup-'));
    closers.push(() => rmSync(dir, { recursive: true, force: true }));
    const blocker = createSocket('udp4');
    await new Promise<void>((r) => blocker.bind(0, '127.0.0.1', r));
    closers.push(() => new Promise<void>((r) => blocker.close(() => r())));
    const stunPort = blocker.address().port;

    const builder = serveCommand.builder as (y: Argv) => Argv<ServeArgs>;
    // The signaling port is the kernel's pick, free when probed, not necessarily when serve binds
    // it (another test's socket may take it between): then the start fails on that port, not on
    // STUN's, which is not this test's case, and it is tried again on a fresh port.
    for (let attempt = 1; ; attempt++) {
      const port = await freeTcpPort();
      const args = builder(yargs()).parseSync([
        '--host=127.0.0.1',
        `--port=${port}`,
        `--stun-port=${stunPort}`,
        '--relay-port=0',
        `--data-dir=${dir}`,
      ]);
      const err = (await startServices(args, silentLogger).then(
        () => expect.fail('serve started although its STUN port is taken'),
        (e: unknown) => e,
      )) as NodeJS.ErrnoException & { port?: number };
      expect(err).toMatchObject({ code: 'EADDRINUSE' });
      if (err.port === port && attempt < 5) continue;
      // It was STUN's port that was taken...
      expect(err.port).toBe(stunPort);
      // ...and the signaling server, which had bound `port`, has closed it again.
      expect(ownListeners(port), `sockets of this process still listening on ${port}`).toEqual([]);
      return;
    }
  });
});
