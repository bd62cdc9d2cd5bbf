/**
 * `natpush serve` start-up is all or nothing: when a later service (STUN) cannot bind, the
 * services already started (signaling, relay) are closed again, so nothing stays listening.
 */
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
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

async function canListenTcp(port: number): Promise<boolean> {
  const s = createServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

describe('natpush serve start-up', () => {
  it('closes signaling and relay again when the STUN port is taken', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'natpush-serve-startup-'));
    closers.push(() => rmSync(dir, { recursive: true, force: true }));
    const blocker = createSocket('udp4');
    await new Promise<void>((r) => blocker.bind(0, '127.0.0.1', r));
    closers.push(() => new Promise<void>((r) => blocker.close(() => r())));
    const stunPort = blocker.address().port;
    const port = await freeTcpPort();

    const builder = serveCommand.builder as (y: Argv) => Argv<ServeArgs>;
    const args = builder(yargs()).parseSync([
      '--host=127.0.0.1',
      `--port=${port}`,
      `--stun-port=${stunPort}`,
      '--relay-port=0',
      `--data-dir=${dir}`,
    ]);
    await expect(startServices(args, silentLogger)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    // The signaling server had bound `port`; it must be free again.
    expect(await canListenTcp(port)).toBe(true);
  });
});
