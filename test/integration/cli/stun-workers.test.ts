/**
 * `natpush stun --workers 2` (the built CLI, `--listen 127.0.0.1:0`): with `--udp-io mmsg` (the
 * default) each worker binds the port itself with SO_REUSEPORT through the udp_mmsg addon, on
 * Node 20 too; with `--udp-io dgram` on Node 24 likewise through dgram's reusePort, on Node 20
 * they share the primary's one socket (node:cluster). Either way Binding requests from many
 * source ports are answered on the one port, and SIGTERM stops every process with exit 0.
 */
import { execFileSync, spawn } from 'node:child_process';
import readline from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeUdpNetwork } from '../../../src/net/index.js';
import { MMSG_DEFAULTS } from '../../../src/net/mmsg-socket.js';
import { Attr, BINDING_REQUEST, StunClient, StunMessageBuilder } from '../../../src/stun/index.js';
import { requireBuiltCli } from '../../support/natpush-cli.js';
import { node24OrSkip } from '../../support/node24.js';
import { hasReusePort } from '../../../src/server/workers/runtime.js';
import { TEST_RETRANSMISSION } from '../../support/test-retransmission.js';
import { mmsgOrSkip } from '../../unit/net/mmsg-support.js';

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
const MMSG = mmsgOrSkip();
const here = { name: process.version, node: process.execPath, reusePort: hasReusePort() };
// Under scripts/test-node24.sh this process already is Node 24: run it once.
const runtimes =
  NODE24 && !hasReusePort() ? [here, { name: 'Node 24', node: NODE24, reusePort: true }] : [here];
// --udp-io mmsg: the addon sets SO_REUSEPORT on any Node, a socket per worker. --udp-io dgram:
// dgram's reusePort where the runtime has it, else node:cluster's one shared socket.
const cases = runtimes.flatMap((r) => [
  ...(MMSG ? [{ ...r, io: 'mmsg', sockets: 2 }] : []),
  { ...r, io: 'dgram', sockets: r.reusePort ? 2 : 1 },
]);

describe.each(cases)('natpush stun --workers 2 --udp-io $io on $name', ({ node, io, sockets }) => {
  it('answers Binding from many source ports on one port; SIGTERM stops them all', async () => {
    const child = spawn(
      node,
      [requireBuiltCli(), 'stun', '--listen', '127.0.0.1:0', '--workers', '2', '--udp-io', io],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    cleanup.push(() => child.kill('SIGKILL'));
    let stopped: Record<string, unknown> | undefined;
    const port = await new Promise<number>((resolve) =>
      readline.createInterface({ input: child.stdout! }).on('line', (l) => {
        const m = /listening on udp 127\.0\.0\.1:(\d+).*\(2 workers\)/.exec(l);
        if (m) resolve(Number(m[1]));
        const done = /^natpush stun: stopped; (.*)$/.exec(l);
        if (done) stopped = JSON.parse(done[1]!) as Record<string, unknown>;
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
      if (i === 0) {
        // Longer than a batched socket's receive slot: mmsg drops it (counted), dgram answers.
        // The Binding below comes from the same source port, so the same worker reads it after.
        const big = new StunMessageBuilder(BINDING_REQUEST)
          .addBytes(Attr.Padding, new Uint8Array(MMSG_DEFAULTS.slotBytes + 100))
          .build();
        socket.send(big, { address: '127.0.0.1', port });
      }
      const r = await client.binding({ address: '127.0.0.1', port });
      expect(r.mapped.port).toBe(socket.address().port);
    }
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stopped).toMatchObject({ dropped: { truncated: io === 'mmsg' ? 1 : 0 } });
  });
});
