/**
 * End-to-end crypto speed on one core: what a peer pays per session and per byte.
 *
 *   npm run build && node dist/bench/session-crypto.js [seconds-per-figure]
 *
 * - Noise IK handshakes/s: both sides in one process (initiator write + responder read/write +
 *   initiator read = 4 X25519 DH per side plus key generation), raw HandshakeState.
 * - SecureSession handshakes/s: the same plus identity checks, indexes, key confirmation.
 * - sealed MB/s: seal() and open() of 1 KiB and 16 KiB plaintexts (Noise_X: 2 DH each way).
 * - transport MB/s: SecureSession send → handle of 1,170-byte payloads (a 1200-byte datagram),
 *   i.e. ChaCha20-Poly1305 + replay window + framing, on the backend sessions use (aead.ts).
 * - A notification's cost through the session stack, per backend: two ReliableChannels over two
 *   SecureSessions in one process, datagrams handed over on the next macrotask (as a socket
 *   would), a flood of 100- and 1,000-byte notifications with 1,000 unacknowledged (as
 *   direct-throughput's), both sides' CPU per notification delivered and acked. No sockets, no
 *   Peer: the part of direct-throughput's per-message cost that is the channel and the crypto.
 * - The same over two real UDP sockets on loopback (node:dgram, the default backend), still one
 *   process: adds what a datagram costs in node and the kernel (send, receive callback) but no
 *   NAT and no second process, so it is far steadier than direct-throughput on a loaded machine.
 * - AEAD alone, per backend (sodium-native and node:crypto side by side): µs per seal and per
 *   open of a 1,170-byte and a 100-byte payload, through CipherState (as a session calls it).
 * Best of 3 rounds of `seconds` of CPU time each (default 0.5 s), reported per CPU-second so a
 * busy machine does not skew the figures.
 */
import { generateIdentity } from '../src/signaling/identity.js';
import {
  HandshakeState,
  open,
  seal,
  SecureSession,
  TRANSPORT_OVERHEAD,
  x25519KeyPairFromIdentity,
} from '../src/session/index.js';
import { ManualClock, systemClock } from '../src/util/clock.js';
import { ReliableChannel } from '../src/session/reliable.js';
import { nodeUdpNetwork } from '../src/net/index.js';
import { defaultAead, nodeAead, sodiumAead, type Aead } from '../src/session/aead.js';
import { CipherState } from '../src/session/cipher-state.js';

const SECONDS = Number(process.argv[2] ?? 0.5);

/** ms of CPU this process used: the machine may be shared, so rates are per CPU-second. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function rate(fn: () => number): number {
  let best = 0;
  for (let round = 0; round < 3; round++) {
    const start = cpuMs();
    let units = 0;
    while (cpuMs() - start < SECONDS * 1000) units += fn();
    best = Math.max(best, units / ((cpuMs() - start) / 1000));
  }
  return best;
}

const a = generateIdentity();
const b = generateIdentity();
const ka = x25519KeyPairFromIdentity(a);
const kb = x25519KeyPairFromIdentity(b);

const noiseIk = rate(() => {
  const i = new HandshakeState({ pattern: 'IK', initiator: true, s: ka, rs: kb.publicKey });
  const r = new HandshakeState({ pattern: 'IK', initiator: false, s: kb });
  r.readMessage(i.writeMessage(new Uint8Array(40)));
  i.readMessage(r.writeMessage(new Uint8Array(0)));
  return 1;
});

const clock = new ManualClock();
const sessionHs = rate(() => {
  const box: { a?: SecureSession; b?: SecureSession } = {};
  box.a = new SecureSession({
    identity: a,
    remotePeerId: b.peerId,
    remotePublicKey: b.publicKey,
    clock,
    send: (d) => box.b!.handle(d),
  });
  box.b = new SecureSession({
    identity: b,
    remotePeerId: a.peerId,
    clock,
    send: (d) => box.a!.handle(d),
  });
  box.a.connect();
  if (!box.a.established || !box.b.established) throw new Error('handshake did not complete');
  box.a.close();
  box.b.close();
  return 1;
});

function sealRate(size: number): { seal: number; open: number } {
  const plain = new Uint8Array(size).fill(42);
  const box = seal(a, b.publicKey, plain);
  return {
    seal: rate(() => (seal(a, b.publicKey, plain), size)) / 1e6,
    open: rate(() => open(b, box).plaintext.length) / 1e6,
  };
}
const sealed1k = sealRate(1024);
const sealed16k = sealRate(16 * 1024);

const payload = new Uint8Array(1200 - TRANSPORT_OVERHEAD).fill(7);
let delivered = 0;
const box: { a?: SecureSession; b?: SecureSession } = {};
box.a = new SecureSession({
  identity: a,
  remotePeerId: b.peerId,
  remotePublicKey: b.publicKey,
  clock,
  send: (d) => box.b!.handle(d),
  timers: { rekeyAfterMessages: 2 ** 40 },
});
box.b = new SecureSession({
  identity: b,
  remotePeerId: a.peerId,
  clock,
  send: (d) => box.a!.handle(d),
});
box.b.onMessage((p) => (delivered += p.length));
box.a.connect();
const transport =
  rate(() => {
    for (let i = 0; i < 100; i++) box.a!.send(payload);
    return 100 * payload.length;
  }) / 1e6;
if (delivered === 0) throw new Error('nothing delivered');

/** µs of CPU per seal and per open of `size` bytes through a CipherState on `aead`. */
function aeadCost(aead: Aead, size: number): { seal: number; open: number } {
  const k = Buffer.alloc(32, 3);
  const tx = new CipherState(k, aead);
  const rx = new CipherState(k, aead);
  const header = Buffer.alloc(16, 1);
  const plain = new Uint8Array(size).fill(5);
  let n = 0;
  const sealed = tx.encryptWithNonce(0, header, plain);
  const seals = rate(() => {
    for (let i = 0; i < 100; i++) tx.encryptWithNonce(++n, header, plain, header);
    return 100;
  });
  const opens = rate(() => {
    for (let i = 0; i < 100; i++) rx.decryptWithNonce(0, header, sealed);
    return 100;
  });
  return { seal: 1e6 / seals, open: 1e6 / opens };
}
/** µs of CPU (both sides, one process) per notification delivered and acknowledged. */
async function channelCost(aead: Aead, size: number, n: number): Promise<number> {
  const box: { a?: SecureSession; b?: SecureSession } = {};
  // Datagrams cross on a macrotask in batches, as from a socket's read loop.
  const wire = (to: () => SecureSession) => {
    let q: Uint8Array[] = [];
    return (d: Uint8Array) => {
      if (q.push(d) === 1)
        setImmediate(() => {
          const batch = q;
          q = [];
          for (const x of batch) to().handle(x);
        });
    };
  };
  box.a = new SecureSession({
    identity: a,
    remotePeerId: b.peerId,
    remotePublicKey: b.publicKey,
    clock: systemClock,
    send: wire(() => box.b!),
    aead,
  });
  box.b = new SecureSession({
    identity: b,
    remotePeerId: a.peerId,
    clock: systemClock,
    send: wire(() => box.a!),
    aead,
  });
  const ca = new ReliableChannel({ session: box.a, clock: systemClock });
  const cb = new ReliableChannel({ session: box.b, clock: systemClock });
  let got = 0;
  cb.onNotification(() => got++);
  const body = 'x'.repeat(size);
  let next = 0;
  const flood = async (count: number) => {
    const end = next + count;
    const worker = async () => {
      while (next < end) await ca.send({ id: `m${next++}`, body });
    };
    await Promise.all(Array.from({ length: 1000 }, worker));
  };
  await flood(2000); // warm-up (JIT), not measured
  const start = cpuMs();
  const before = got;
  await flood(n);
  const us = ((cpuMs() - start) * 1000) / (got - before);
  ca.close();
  cb.close();
  box.a.close();
  box.b.close();
  return us;
}

/** µs of CPU (both sides, one process) per notification over two loopback UDP sockets. */
async function loopbackCost(size: number, n: number): Promise<number> {
  const sa = await nodeUdpNetwork.bindUdp({ address: '127.0.0.1', port: 0 });
  const sb = await nodeUdpNetwork.bindUdp({ address: '127.0.0.1', port: 0 });
  const ea = sa.address();
  const eb = sb.address();
  const sessA = new SecureSession({
    identity: a,
    remotePeerId: b.peerId,
    remotePublicKey: b.publicKey,
    clock: systemClock,
    send: (d) => sa.send(d, eb),
  });
  const sessB = new SecureSession({
    identity: b,
    remotePeerId: a.peerId,
    clock: systemClock,
    send: (d) => sb.send(d, ea),
  });
  sa.onMessage((d) => sessA.handle(d));
  sb.onMessage((d) => sessB.handle(d));
  const ca = new ReliableChannel({ session: sessA, clock: systemClock });
  const cb = new ReliableChannel({ session: sessB, clock: systemClock });
  let got = 0;
  cb.onNotification(() => got++);
  const body = 'x'.repeat(size);
  let next = 0;
  const flood = async (count: number) => {
    const end = next + count;
    const worker = async () => {
      while (next < end) await ca.send({ id: `m${next++}`, body });
    };
    await Promise.all(Array.from({ length: 1000 }, worker));
  };
  await flood(2000); // warm-up (JIT), not measured
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const start = cpuMs();
    const before = got;
    await flood(n);
    best = Math.min(best, ((cpuMs() - start) * 1000) / (got - before));
  }
  ca.close();
  cb.close();
  sessA.close();
  sessB.close();
  await Promise.all([sa.close(), sb.close()]);
  return best;
}

const aeads = [sodiumAead, nodeAead].filter((x): x is Aead => x !== undefined);
const aeadFigures = aeads.map((x) => ({
  name: x.name,
  big: aeadCost(x, 1200 - TRANSPORT_OVERHEAD),
  small: aeadCost(x, 100),
}));

const channelFigures: { name: string; small: number; big: number }[] = [];
for (const x of aeads)
  channelFigures.push({
    name: x.name,
    small: await channelCost(x, 100, 20_000),
    big: await channelCost(x, 1000, 20_000),
  });

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d });
console.log(`node ${process.version}, best of 3 × ${SECONDS} CPU-s, per CPU-second`);
console.log(`Noise IK handshakes/s (raw HandshakeState)     ${fmt(noiseIk)}`);
console.log(`SecureSession handshakes/s (IK + identity + confirmation) ${fmt(sessionHs)}`);
console.log(
  `sealed 1 KiB:  seal ${fmt(sealed1k.seal, 1)} MB/s, open ${fmt(sealed1k.open, 1)} MB/s`,
);
console.log(
  `sealed 16 KiB: seal ${fmt(sealed16k.seal, 1)} MB/s, open ${fmt(sealed16k.open, 1)} MB/s`,
);
console.log(
  `transport 1200-byte datagrams: ${fmt(transport, 1)} MB/s (send → handle, one core, ${defaultAead.name})`,
);
if (!sodiumAead) console.log('sodium-native did not load here: sessions use node:crypto');
console.log(`ChaCha20-Poly1305 per call (CipherState), µs of CPU:`);
console.log(
  `  ${'backend'.padEnd(14)} ${'seal 1,170 B'.padStart(12)} ${'open 1,170 B'.padStart(12)} ${'seal 100 B'.padStart(10)} ${'open 100 B'.padStart(10)}`,
);
for (const f of aeadFigures)
  console.log(
    `  ${f.name.padEnd(14)} ${fmt(f.big.seal, 2).padStart(12)} ${fmt(f.big.open, 2).padStart(12)} ${fmt(f.small.seal, 2).padStart(10)} ${fmt(f.small.open, 2).padStart(10)}`,
  );
console.log(
  `notification through channel + session (both sides, one process, no sockets), µs of CPU:`,
);
console.log(`  ${'backend'.padEnd(14)} ${'100 B'.padStart(8)} ${'1,000 B'.padStart(8)}`);
for (const f of channelFigures)
  console.log(`  ${f.name.padEnd(14)} ${fmt(f.small, 1).padStart(8)} ${fmt(f.big, 1).padStart(8)}`);
const loopSmall = await loopbackCost(100, 20_000);
const loopBig = await loopbackCost(1000, 20_000);
console.log(
  `the same over two loopback UDP sockets (${defaultAead.name}, best of 3 floods of 20,000), µs of CPU: ` +
    `100 B ${fmt(loopSmall, 1)}, 1,000 B ${fmt(loopBig, 1)}`,
);
