/**
 * `natpush stun --workers 2` (the built CLI, `--listen 127.0.0.1:0`): on Node 24 each worker binds
 * the port itself with SO_REUSEPORT (two sockets, one per process); on Node 20 they share the
 * primary's one socket (node:cluster). Either way Binding requests from many source ports are
 * answered on the one port, and SIGTERM stops every process with exit 0.
 */
import { execFileSync, spawn } from 'node:child_process';
import readline from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeUdpNetwork } from '../../../src/net/index.js';
import { StunClient } from '../../../src/stun/index.js';
import { requireBuiltCli } from '../../support/natpush-cli.js';
import { node24OrSkip } from '../../support/node24.js';
import { hasReusePort } from '../../../src/server/workers/runtime.js';
import { TEST_RETRANSMISSION } from '../../support/test-retransmission.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** UDP sockets bound to 127.0.0.1:port (iproute2's ss: one line per socket). */
function udpSockets(port: number): number {
  const out = execFileSync('ss', ['-Huan', `sport = :${port}`], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(`127.0.0.1:${port} `)).length;
}

const NODE24 = node24OrSkip();
const here = hasReusePort()
  ? {
      name: `${process.version} (SO_REUSEPORT, a socket per worker)`,
      node: process.execPath,
      sockets: 2,
    }
  : { name: `${process.version} (one shared socket)`, node: process.execPath, sockets: 1 };
// Under scripts/test-node24.sh this process already is Node 24: run it once.
const runtimes =
  NODE24 && !hasReusePort()
    ? [here, { name: 'Node 24 (SO_REUSEPORT, a socket per worker)', node: NODE24, sockets: 2 }]
    : [here];

describe.each(runtimes)('natpush stun --workers 2 on $name', ({ node, sockets }) => {
  it('answers Binding from many source ports on one port; SIGTERM stops them all', async () => {
    const child = spawn(
      node,
      [requireBuiltCli(), 'stun', '--listen', '127.0.0.1:0', '--workers', '2'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    cleanup.push(() => child.kill('SIGKILL'));
    const port = await new Promise<number>((resolve) =>
      readline.createInterface({ input: child.stdout! }).on('line', (l) => {
        const m = /listening on udp 127\.0\.0\.1:(\d+).*\(2 workers\)/.exec(l);
        if (m) resolve(Number(m[1]));
      }),
    );
    expect(udpSockets(port)).toBe(sockets);
    for (let i = 0; i < 8; i++) {
      const socket = await nodeUdpNetwork.bindUdp({ address: '127.0.0.1' });
      const client = new StunClient({ socket, retransmission: TEST_RETRANSMISSION });
      cleanup.push(
        () => socket.close(),
        () => client.close(),
      );
      const r = await client.binding({ address: '127.0.0.1', port });
      expect(r.mapped.port).toBe(socket.address().port);
    }
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
