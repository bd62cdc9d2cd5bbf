/**
 * A worker process of `relay --workers` / `stun --workers` (node:cluster runs this file). It
 * waits for the primary's `start` over IPC, runs the server it names on the shared port, and says
 * `ready` (or `failed` with a code). It answers `query` with its counters and asks the primary for
 * allocation leases (whole-server quotas). It stops on SIGTERM/SIGINT and when the primary's
 * channel closes (the primary died: no orphan keeps the port).
 */
import { selectUdpNetwork } from '../../net/mmsg-network.js';
import { RELAYED_SOCKET_SLOTS } from '../../relay/constants.js';
import type { TurnServer } from '../../relay/index.js';
import type { StunServer } from '../../stun/index.js';
import { jsonLogger } from '../../util/logger.js';
import type { RelayWorkerConfig } from '../create-relay.js';
import type { StunWorkerConfig } from '../create-stun.js';
import { IpcLedgerClient } from './ledger-client.js';
import { IpcReservationExchange } from './reservation-client.js';
import { IpcSiblingExchange } from './sibling-client.js';
import { isMessage, type FromWorker, type ToWorker } from './protocol.js';
import { sharedPortNetwork } from './shared-port.js';

type Running = { close(): Promise<void>; counters(): Record<string, unknown> };

const send = (m: FromWorker): void => {
  if (process.connected) process.send!(m);
};
const ipc = {
  send,
  get connected() {
    return process.connected;
  },
};
const ledger = new IpcLedgerClient(ipc);
const reservations = new IpcReservationExchange(ipc, Number(process.env.NATPUSH_WORKER_INDEX ?? 0));
const siblings = new IpcSiblingExchange(ipc);
let running: Running | undefined;
let stopping = false;

// Each kind's server is imported when a worker is told to run it: a STUN worker never loads the
// relay (and its option schemas and metrics), which kept ~20 MiB of RSS in every STUN worker.
async function start(kind: string, config: unknown): Promise<Running> {
  if (kind === 'relay') {
    const { startRelayInWorker } = await import('../create-relay.js');
    const c = config as RelayWorkerConfig;
    const logger = jsonLogger(c.options['log-level']);
    const io = selectUdpNetwork(c.options['udp-io'], { logger });
    const net = c.share ? sharedPortNetwork(io, [c.port], c.share) : io;
    const server: TurnServer = await startRelayInWorker(c, {
      net,
      relayNet: selectUdpNetwork(c.options['udp-io'], {
        logger,
        slots: RELAYED_SOCKET_SLOTS,
        shareReceiveBuffers: true,
      }),
      logger,
      allocationLedger: ledger,
      reservationExchange: reservations,
      siblingExchange: siblings,
    });
    const a = server.addresses();
    send({ t: 'ready', udp: a.udp, ...(a.tcp ? { tcp: a.tcp } : {}) });
    return {
      close: () => server.close(),
      counters: () => ({ allocations: server.allocationCount, ...server.counters.snapshot() }),
    };
  }
  if (kind === 'stun') {
    const { startStunInWorker } = await import('../create-stun.js');
    const stun: StunServer = await startStunInWorker(config as StunWorkerConfig);
    const tcp = stun.tcpAddress();
    send({ t: 'ready', udp: stun.addresses()[0]!, ...(tcp ? { tcp } : {}) });
    return { close: () => stun.close(), counters: () => ({ ...stun.stats }) };
  }
  throw new TypeError(`unknown worker kind ${kind}`);
}

async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  ledger.disconnected();
  reservations.disconnected();
  siblings.disconnected();
  await running?.close().catch(() => {});
  process.exit(); // with process.exitCode: 1 after a failed start
}

process.on('message', (m: unknown) => {
  if (!isMessage<ToWorker>(m)) return;
  if (m.t === 'start') {
    // The others' allocations follow `start` at once: keep them until the relay serves.
    if (m.kind === 'relay')
      siblings.hold((m.config as RelayWorkerConfig).options['max-allocations']);
    start(m.kind, m.config).then(
      (r) => {
        running = r;
        if (stopping) void r.close();
      },
      (err: unknown) => {
        const e = err as { code?: unknown; message?: unknown };
        send({
          t: 'failed',
          code: typeof e.code === 'string' ? e.code : 'NATPUSH_ERR_WORKER_FAILED',
          message: String(e.message ?? err),
        });
        process.exitCode = 1;
        process.disconnect();
      },
    );
  } else if (m.t === 'query') {
    send({ t: 'answer', id: m.id, counters: running?.counters() ?? {} });
  } else {
    ledger.onMessage(m);
    reservations.onMessage(m);
    siblings.onMessage(m);
  }
});
process.on('disconnect', () => void stop());
send({ t: 'hello' });
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
