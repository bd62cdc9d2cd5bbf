/**
 * TURN interop with node-datachannel (libdatachannel + libjuice), a WebRTC stack nobody here
 * wrote: two PeerConnections with our server as their only ICE server and the ICE transport
 * policy "relay" connect, open a data channel and exchange messages both ways over UDP.
 *
 * Not over TCP: libdatachannel built on libjuice (the only backend node-datachannel ships) does not
 * implement TURN over TCP or TLS — it logs "TURN transports TCP and TLS are not supported with
 * libjuice" and gathers no relay candidate. TCP interop of our server is proven with coturn's
 * turnutils_uclient -t instead (relay-coturn.test.ts).
 *
 * libjuice may still move data on a direct path under "relay" (libdatachannel issue 1587), so
 * arrival alone proves nothing: the test also requires that the selected pair is relay↔relay and
 * that our relay's counters carried at least the payload volume in each direction.
 *
 * node-datachannel is an npm dependency, never skipped. It runs in a child process
 * (test/support/libjuice-pair.mjs): libdatachannel's threads can deadlock and block the JavaScript
 * thread with them (a CI run hung for 17 minutes with no timer firing); a child is SIGKILLed at
 * the attempt's deadline and the next attempt starts afresh, with what it saw on stderr.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeUdpNetwork } from '../../src/net/index.js';
import { mintTurnCredentials, sharedSecret } from '../../src/relay/credentials.js';
import { createRelayServer, type TurnServer } from '../../src/relay/server/turn-server.js';

const SECRET = 'libjuice-interop-secret';
const MESSAGES = 200;
const SIZE = 1000;
/** The node-datachannel side runs in this child (see its header: libdatachannel can deadlock). */
const PAIR = fileURLToPath(new URL('../support/libjuice-pair.mjs', import.meta.url));
/** One attempt's deadline (about 1 s when it works): connect, open, 200 messages each way. */
const ATTEMPT_MS = 30_000;
/** Fresh attempts, for libjuice's direct-pair choice (issue 1587) or a stalled child. */
const ATTEMPTS = 4;

const servers: TurnServer[] = [];
const children: ReturnType<typeof spawn>[] = [];
afterEach(async () => {
  for (const c of children.splice(0))
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const s of servers.splice(0)) await s.close();
});

async function relayServer(): Promise<TurnServer> {
  const server = await createRelayServer({
    net: nodeUdpNetwork,
    listenAddress: '127.0.0.1',
    port: 0,
    // Relayed addresses on another loopback address than the peers' sockets: a permission is
    // per IP (RFC 8656 §9), and with both on 127.0.0.1 the permission for the other side's
    // relayed address also let a datagram from its base socket in (libdatachannel issue 1587:
    // libjuice then nominates base → relayed, half around the relay; CI saw it 4 times in a row).
    relayAddress: '127.0.0.2',
    credentials: sharedSecret(SECRET),
    // Loopback peers: the relayed addresses of both PeerConnections are 127.0.0.1.
    peerPolicy: { allow: ['127.0.0.0/8'] },
  });
  servers.push(server);
  return server;
}

interface PairResult {
  received: { a: number[]; b: number[] };
  candidates: { a: string[]; b: string[] };
  pairs: Record<'a' | 'b', { local?: string; remote?: string }>;
}
type Attempt = { result: PairResult } | { retry: string };

/**
 * One attempt: the two PeerConnections in a child process against `server`. Resolves with the
 * child's result, or with why to try again (a pair around the relay; no result by the deadline,
 * with the child's last stages and the relay's counters). The child is SIGKILLed either way.
 */
function attempt(server: TurnServer): Promise<Attempt> {
  const creds = ['alice', 'bob'].flatMap((u) => {
    const c = mintTurnCredentials(SECRET, u, 600);
    return [c.username, c.password];
  });
  const port = String(server.addresses().udp.port);
  const child = spawn(process.execPath, [PAIR, port, ...creds, String(MESSAGES), String(SIZE)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const stages: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  return new Promise<Attempt>((resolve) => {
    const finish = (a: Attempt) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve(a);
    };
    const stalled = (why: string) =>
      finish({
        retry: `${why}; stages: ${stages.slice(-12).join(' | ')}; relay: ${JSON.stringify({
          allocationsCreated: server.counters.allocationsCreated,
          permissionsCreated: server.counters.permissionsCreated,
          channelsBound: server.counters.channelsBound,
          toPeerPackets: server.counters.toPeerPackets,
          toClientPackets: server.counters.toClientPackets,
        })}; stderr: ${stderr.trim().slice(-500)}`,
      });
    const timer = setTimeout(() => stalled(`no result in ${ATTEMPT_MS} ms`), ATTEMPT_MS);
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = JSON.parse(line) as { stage?: string; direct?: string; result?: PairResult };
        if (m.stage) stages.push(m.stage);
        if (m.direct) finish({ retry: `libjuice chose ${m.direct}` });
        if (m.result) finish({ result: m.result });
      }
    });
    child.once('exit', (code, signal) =>
      stalled(`child exited (${code ?? signal}) without a result`),
    );
  });
}

async function exchangeThroughRelay(): Promise<void> {
  const tries: string[] = [];
  for (let i = 1; i <= ATTEMPTS; i++) {
    const server = await relayServer();
    const a = await attempt(server);
    if ('retry' in a) {
      tries.push(a.retry);
      process.stderr.write(`relay-libjuice: attempt ${i}: ${a.retry}; again\n`);
      continue;
    }
    return checkResult(server, a.result);
  }
  throw new Error(`no attempt of ${ATTEMPTS} went through the relay:\n${tries.join('\n')}`);
}

function checkResult(server: TurnServer, r: PairResult): void {
  // Reliable, ordered channel: everything, in order.
  expect(r.received.b).toEqual([...Array(MESSAGES).keys()]);
  expect(r.received.a).toEqual([...Array(MESSAGES).keys()]);

  // Only relay candidates were offered, and the pair in use is relay ↔ relay on our server.
  for (const c of [...r.candidates.a, ...r.candidates.b]) expect(c).toMatch(/ typ relay/);
  for (const side of ['a', 'b'] as const) {
    expect(r.pairs[side]).toEqual({ local: 'relay', remote: 'relay' });
  }

  // The bytes provably crossed our relay: two allocations, permissions (and libjuice's channel
  // bindings), and relayed payload at least the data-channel volume in each direction
  // (DTLS/SCTP framing only adds to it). Each direction of A→B enters as client→peer on A's
  // allocation and leaves as peer→client on B's, so both counters carry both directions.
  const c = server.counters;
  const volume = 2 * MESSAGES * SIZE;
  expect(c.allocationsCreated).toBeGreaterThanOrEqual(2);
  expect(c.permissionsCreated).toBeGreaterThanOrEqual(2);
  expect(c.channelsBound).toBeGreaterThanOrEqual(2);
  expect(c.toPeerBytes).toBeGreaterThanOrEqual(volume);
  expect(c.toClientBytes).toBeGreaterThanOrEqual(volume);
  expect(c.toPeerPackets).toBeGreaterThanOrEqual(2 * MESSAGES);
  expect(c.toClientPackets).toBeGreaterThanOrEqual(2 * MESSAGES);
}

describe('node-datachannel (libjuice) through our TURN server, iceTransportPolicy relay', () => {
  // Past the attempts' own deadlines, so a failure reports its state, not a timeout.
  it(
    'UDP: data channel both ways, every byte through the relay',
    async () => {
      await exchangeThroughRelay();
    },
    ATTEMPTS * ATTEMPT_MS + 30_000,
  );
});
