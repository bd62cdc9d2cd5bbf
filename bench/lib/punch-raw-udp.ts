/**
 * Raw UDP peer for bench/direct-throughput.ts, run with node inside a netsim host: the baseline a
 * direct natpush path is compared with — the same hosts, the same NATs, a plain socket, no
 * crypto, no acks. JSON lines on stdio:
 *   out {"bound":{"port":P}}
 *   in  {"punch":{"address":A,"port":P}}   send a probe every 20 ms until one from A:P arrives
 *   out {"punched":true}                   (the other side's NAT let us in)
 *   in  {"blast":{"n":N,"size":B,"rate":R}} N datagrams of B bytes to the punched peer, at R per
 *                                          second (0 = as fast as the socket takes them)
 *   out {"blasted":{"n":N,"ms":T}}
 *   out {"rx":{"n":N,"firstAt":T0,"lastAt":T1,"latencies":[ms…]}}  receiver, 500 ms after the last
 * Datagram: byte 0 = 0x42 (data) or 0x50 (probe), bytes 1–8 the sender's wall time (float64 ms).
 */
import dgram from 'node:dgram';
import readline from 'node:readline';

const out = (o: unknown): void => void process.stdout.write(JSON.stringify(o) + '\n');
const wall = (): number => performance.timeOrigin + performance.now();
const DATA = 0x42;
const PROBE = 0x50;

const sock = dgram.createSocket('udp4');
await new Promise<void>((r) => sock.bind(0, '0.0.0.0', r));
// Room for a burst: the default receive buffer (~200 KiB) overflows within milliseconds.
sock.setRecvBufferSize(4 * 1024 * 1024);
sock.setSendBufferSize(4 * 1024 * 1024);
out({ bound: { port: sock.address().port } });

let peer: { address: string; port: number } | undefined;
let heard = false;
let rx: { n: number; firstAt: number; lastAt: number; latencies: number[] } | undefined;
let rxTimer: NodeJS.Timeout | undefined;

sock.on('message', (m, from) => {
  if (m[0] === PROBE) {
    if (peer && from.address === peer.address && from.port === peer.port && !heard) {
      heard = true;
      sock.send(Buffer.of(PROBE), peer.port, peer.address); // let the other side hear us too
      out({ punched: true });
    }
    return;
  }
  if (m[0] !== DATA || m.length < 9) return;
  const now = wall();
  rx ??= { n: 0, firstAt: now, lastAt: now, latencies: [] };
  rx.n++;
  rx.lastAt = now;
  rx.latencies.push(now - m.readDoubleBE(1));
  clearTimeout(rxTimer);
  rxTimer = setTimeout(() => {
    out({ rx });
    rx = undefined;
  }, 500);
});

async function punch(to: { address: string; port: number }): Promise<void> {
  peer = to;
  for (let i = 0; i < 250 && !heard; i++) {
    sock.send(Buffer.of(PROBE), to.port, to.address);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Sends in batches; waits for the socket's send queue to drain so nothing is dropped locally. */
async function blast(n: number, size: number, rate: number): Promise<void> {
  const p = peer!;
  const t0 = performance.now();
  let sent = 0;
  while (sent < n) {
    const due =
      rate > 0 ? Math.min(n, Math.floor(((performance.now() - t0) / 1000) * rate) + 1) : n;
    const batchEnd = Math.min(due, sent + 64);
    for (; sent < batchEnd; sent++) {
      const b = Buffer.alloc(Math.max(9, size), 0x78);
      b[0] = DATA;
      b.writeDoubleBE(wall(), 1);
      sock.send(b, p.port, p.address);
    }
    // Let the send queue drain (dgram queues sends in libuv; an unbounded loop only grows it).
    while (sock.getSendQueueCount() > 256) await new Promise((r) => setImmediate(r));
    await new Promise((r) => (rate > 0 ? setTimeout(r, 1) : setImmediate(r)));
  }
  while (sock.getSendQueueCount() > 0) await new Promise((r) => setImmediate(r));
  out({ blasted: { n, ms: performance.now() - t0 } });
}

for await (const line of readline.createInterface({ input: process.stdin })) {
  const m = JSON.parse(line) as {
    punch?: { address: string; port: number };
    blast?: { n: number; size: number; rate?: number };
    close?: true;
  };
  if (m.punch) void punch(m.punch);
  if (m.blast) void blast(m.blast.n, m.blast.size, m.blast.rate ?? 0);
  if (m.close) break;
}
sock.close();
process.exit(0);
