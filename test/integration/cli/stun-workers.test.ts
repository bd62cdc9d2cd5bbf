/**
 * `natpush stun --workers 2` (the built CLI): two processes answer on one shared socket and the
 * primary takes them down on SIGTERM.
 */
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../../bench/lib/coturn.js';
import { nodeUdpNetwork } from '../../../src/net/index.js';
import { LAN_RETRANSMISSION, StunClient } from '../../../src/stun/index.js';
import { requireBuiltCli } from '../../support/natpush-cli.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('natpush stun --workers', () => {
  it('two workers share the sockets; SIGTERM stops them all', async () => {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [requireBuiltCli(), 'stun', '--listen', `127.0.0.1:${port}`, '--workers', '2'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    cleanup.push(() => child.kill('SIGKILL'));
    let listening = 0;
    await new Promise<void>((resolve) =>
      readline.createInterface({ input: child.stdout! }).on('line', (l) => {
        if (l.includes('listening') && ++listening === 2) resolve();
      }),
    );
    const socket = await nodeUdpNetwork.bindUdp({ address: '127.0.0.1' });
    const client = new StunClient({ socket, retransmission: LAN_RETRANSMISSION });
    cleanup.push(
      () => socket.close(),
      () => client.close(),
    );
    const results = await Promise.all(
      Array.from({ length: 20 }, () => client.binding({ address: '127.0.0.1', port })),
    );
    for (const r of results) expect(r.mapped.port).toBe(socket.address().port);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
