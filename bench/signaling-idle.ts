/**
 * How many idle, authenticated WebSocket peers one natpush signaling node holds, and what each
 * costs in server memory — next to a bare `ws` server holding the same number of plain sockets.
 * Target (issue 4): 50,000 peers in under 1 GiB.
 *
 * Run: `npm run build && node dist/bench/signaling-idle.js [peers] [generator processes]`
 * Default 19,000 peers: this machine caps open files at 20,000 per process (hard limit, no
 * CAP_SYS_RESOURCE to raise it), and the server needs one descriptor per peer. Memory per peer
 * is measured, and 50,000 is extrapolated from it (stated as such).
 */
import { execFileSync } from 'node:child_process';
import { helper } from './lib/child.js';

const peers = Number(process.argv[2] ?? 19_000);
const generators = Number(process.argv[3] ?? 2);
// Several source addresses: each (source, 127.0.0.1:port) tuple has ~28,000 ephemeral ports.
const SOURCES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
const MiB = 1024 * 1024;

interface Mem {
  rss: number;
  heapUsed: number;
}

async function run(
  mode: 'natpush' | 'baseline',
): Promise<{ held: number; failed: number; perPeer: number; rss: number; ms: number }> {
  const server = helper('./signaling-server-child.js', [mode, 'sqlite'], ['--expose-gc']);
  const { port } = await server.next<{ port: number }>();
  const before = await server.ask<Mem>({ cmd: 'mem' });
  const per = Math.ceil(peers / generators);
  const gens = Array.from({ length: generators }, (_, g) =>
    helper('./idle-clients.js', [
      mode,
      String(port),
      String(Math.min(per, peers - g * per)),
      SOURCES.join(','),
    ]),
  );
  const results = await Promise.all(
    gens.map((g) => g.next<{ connected: number; failed: number; ms: number }>()),
  );
  const held = results.reduce((s, r) => s + r.connected, 0);
  const failed = results.reduce((s, r) => s + r.failed, 0);
  const ms = Math.max(...results.map((r) => r.ms));
  await new Promise((r) => setTimeout(r, 500));
  const after = await server.ask<Mem>({ cmd: 'mem' });
  await Promise.all(gens.map((g) => g.stop()));
  await server.stop();
  return {
    held,
    failed,
    perPeer: (after.rss - before.rss) / Math.max(1, held),
    rss: after.rss,
    ms,
  };
}

const load = () => execFileSync('uptime', { encoding: 'utf8' }).trim();
console.log(
  `signaling-idle: ${peers} peers, ${generators} generator processes, sources ${SOURCES.join(' ')}`,
);
console.log(`load before: ${load()}`);
const n = await run('natpush');
const b = await run('baseline');
const fmt = (r: typeof n) =>
  `${r.held} held (${r.failed} failed) in ${(r.ms / 1000).toFixed(1)} s (${Math.round(r.held / (r.ms / 1000))}/s), ` +
  `server RSS ${(r.rss / MiB).toFixed(0)} MiB, ${(r.perPeer / 1024).toFixed(1)} KiB per peer`;
console.log(`natpush (authenticated, SQLite): ${fmt(n)}`);
console.log(`bare ws baseline (no auth):      ${fmt(b)}`);
console.log(`memory per peer, natpush / bare ws: ${(n.perPeer / b.perPeer).toFixed(2)}x`);
const at50k = (n.rss - n.perPeer * n.held + n.perPeer * 50_000) / MiB;
console.log(
  `extrapolated to 50,000 peers: ${at50k.toFixed(0)} MiB RSS (target < 1024 MiB: ${at50k < 1024 ? 'met' : 'NOT met'})` +
    (n.held >= 50_000
      ? ''
      : ' — extrapolated, not measured: this machine caps a process at 20,000 open files'),
);
console.log(`load after: ${load()}`);
