/**
 * Benchmark harness: a signaling server (or a bare `ws` baseline) in its own process, so its
 * memory is measured apart from the load generator's. Parent ↔ child over IPC:
 * child sends {port}; parent sends {cmd:'mem'} and gets {rss, heapUsed} after a full GC.
 *
 * argv: mode ('natpush' | 'baseline'), then for natpush: store ('sqlite' | 'memory').
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { startSignalingServer } from '../../src/signaling/server.js';
import { SqliteStore } from '../../src/signaling/store/sqlite-store.js';
import { MemoryStore } from '../../src/signaling/store/memory-store.js';

const mode = process.argv[2] ?? 'natpush';
const storeKind = process.argv[3] ?? 'sqlite';

function rssBytes(): number {
  return process.memoryUsage.rss();
}

async function startNatpush(): Promise<{ port: number; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'np-bench-'));
  const store =
    storeKind === 'memory' ? new MemoryStore() : new SqliteStore(join(dir, 'mailbox.sqlite'));
  const s = await startSignalingServer({
    host: '0.0.0.0',
    store,
    apiKeys: ['bench'],
    // The load comes from a handful of loopback addresses and a few hundred peers: lift the
    // per-address and per-peer limits that protect a public server from one abusive host.
    limits: {
      maxConnectionsPerAddress: 1_000_000,
      ratePerSecond: 1_000_000,
      rateBurst: 1_000_000,
      mailboxQuota: 1_000_000,
    },
  });
  return {
    port: s.port,
    close: async () => {
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The baseline: a bare `ws` server that routes `{to, id}` frames to the addressed socket and
 * nothing else — no schema, no auth, no durability. What natpush costs over the transport.
 */
async function startBaseline(): Promise<{ port: number; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ port: 0, host: '0.0.0.0', perMessageDeflate: false });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const byId = new Map<string, WebSocket>();
  wss.on('connection', (ws, req) => {
    const id = new URL(req.url ?? '/', 'http://x').searchParams.get('id') ?? '';
    byId.set(id, ws);
    ws.on('close', () => byId.get(id) === ws && byId.delete(id));
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { to: string };
      byId.get(m.to)?.send(d.toString());
    });
  });
  return {
    port: (wss.address() as { port: number }).port,
    close: () => new Promise<void>((r) => wss.close(() => r())),
  };
}

const server = mode === 'baseline' ? await startBaseline() : await startNatpush();
process.send!({ port: server.port, rss: rssBytes() });
process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'mem') {
    (globalThis as { gc?: () => void }).gc?.();
    process.send!({ rss: rssBytes(), heapUsed: process.memoryUsage().heapUsed });
  } else if (m.cmd === 'exit') {
    void server.close().then(() => process.exit(0));
  }
});
