/**
 * Benchmark harness for bench/cluster-throughput: one signaling node in its own process, on
 * the Redis at argv[2] (`unix:///…`), or with SQLite when argv[2] is `sqlite`; argv[3], if
 * given, is `earlyAckMs` (serve's --early-ack-ms). Same limits as signaling-server-child.ts (the
 * load comes from a few loopback hosts). IPC: sends {port}; answers {cmd:'mem'} with {rss,
 * heapUsed} after a full GC, {cmd:'stats'} with {unwritten} (notifications acked before they
 * were written, since start); exits on {cmd:'exit'}.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCluster } from '../../src/cluster/open-cluster.js';
import { startSignalingServer } from '../../src/signaling/server.js';
import { SqliteStore } from '../../src/signaling/store/sqlite-store.js';
import { silentLogger } from '../../src/util/logger.js';

const target = process.argv[2] ?? 'sqlite';
const earlyAckMs = process.argv[3] ? Number(process.argv[3]) : undefined;
const dir = mkdtempSync(join(tmpdir(), 'np-cluster-bench-'));
const cluster = target === 'sqlite' ? undefined : await openCluster(target, silentLogger);
const s = await startSignalingServer({
  host: '127.0.0.1',
  store: cluster?.store ?? new SqliteStore(join(dir, 'mailbox.sqlite')),
  ...(cluster ? { cluster: cluster.cluster, sessionSecret: cluster.sessionSecret } : {}),
  apiKeys: ['bench'],
  limits: {
    maxConnectionsPerAddress: 1_000_000,
    ratePerSecond: 1_000_000,
    rateBurst: 1_000_000,
    mailboxQuota: 1_000_000,
  },
  connections: { maxConnectionsPerIp: 1_000_000 },
  ...(earlyAckMs !== undefined ? { timing: { earlyAckMs } } : {}),
});
process.send!({ port: s.port });
process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'mem') {
    (globalThis as { gc?: () => void }).gc?.();
    process.send!({ rss: process.memoryUsage.rss(), heapUsed: process.memoryUsage().heapUsed });
  } else if (m.cmd === 'stats') {
    process.send!({ unwritten: s.context.mailbox.unwritten });
  } else if (m.cmd === 'exit') {
    void s.close().then(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
  }
});
