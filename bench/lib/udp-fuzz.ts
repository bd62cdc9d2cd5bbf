/**
 * UDP fuzzing of a real `natpush serve`: its STUN port and its TURN relay port take seeded
 * random and mutated datagrams (the generators of stun-fuzz.ts and turn-fuzz.ts: mutated STUN
 * messages, TURN requests signed with real credentials from `turn-credentials` so mutations reach
 * the handlers, ChannelData, random bytes across every first-byte range of RFC 7983 — natpush's
 * session range 0xC0–0xCF included) from many source addresses, while an honest pair of peers
 * notifies each other. Shared by test/security/fuzz-udp.test.ts and bench/udp-fuzz.ts.
 *
 * Oracle: serve lives; no answer is a STUN error 500 and no answer fails to decode as STUN or
 * ChannelData; serve logs no error; afterwards a STUN Binding is still answered, two honest peers
 * still allocate on the relay and exchange data through it, and every honest notification
 * arrived exactly once.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { isChannelData } from '../../src/relay/channel-data.js';
import { nodeUdpNetwork } from '../../src/net/index.js';
import { TurnClient } from '../../src/relay/client/client.js';
import { Peer, type TurnCredentialsResult } from '../../src/peer/peer.js';
import { generateIdentity } from '../../src/signaling/identity.js';
import {
  Attr,
  BINDING_REQUEST,
  decodeStunMessage,
  longTermKey,
  Method,
  readErrorCode,
  readString,
  StunClass,
  StunMessageBuilder,
} from '../../src/stun/index.js';
import { HonestPair, type HonestReport } from './fuzz-honest-peer.js';
import { RawPeer } from './raw-peer.js';
import { chance, inputRng, pick } from './fuzz-values.js';
import { startFuzzServe, type FuzzServe } from './fuzz-serve.js';
import { errorLines, rssSampler } from './signaling-fuzz.js';
import { mutate, randomInput, seedMessages } from './stun-fuzz.js';
import { templates } from './turn-fuzz.js';

export interface UdpFuzzReport {
  seed: number;
  inputs: number;
  /** Answers by port and kind, e.g. `turn error 401`, `stun success`, `turn channel-data`. */
  answers: Record<string, number>;
  failures: string[];
  honest: HonestReport;
  /** A Binding after the run was answered. */
  stunAlive: boolean;
  /** Two fresh allocations relayed data both ways after the run (or why not). */
  relayAlive: string;
  crashed: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  errorLogs: string[];
  rss: { before: number; peak: number; after: number };
  seconds: number;
}

interface Fuzzer {
  socket: Socket;
  nonce: string;
  realm: string;
}

function bind(address: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, address, () => resolve(s));
  });
}

/** Ask the relay for a nonce and realm (the 401 to an unauthenticated Allocate). */
function learnNonce(s: Socket, turnPort: number): Promise<{ nonce: string; realm: string }> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no 401 from the relay')), 5_000);
    s.once('message', (d) => {
      clearTimeout(t);
      const m = decodeStunMessage(Uint8Array.from(d));
      resolve({ nonce: readString(m, Attr.Nonce) ?? '', realm: readString(m, Attr.Realm) ?? '' });
    });
    s.send(
      StunMessageBuilder.of(Method.Allocate, StunClass.Request).addRequestedTransport(17).build(),
      turnPort,
      '127.0.0.1',
    );
  });
}

/** The answer's kind for the tally; a failure when it breaks the oracle. */
function classify(port: string, d: Buffer): { key: string; failure?: string } {
  const bytes = Uint8Array.from(d);
  if (isChannelData(bytes)) return { key: `${port} channel-data` };
  try {
    const m = decodeStunMessage(bytes);
    const cls = ['request', 'indication', 'success', 'error'][m.cls] ?? String(m.cls);
    if (m.cls !== StunClass.Error) return { key: `${port} ${cls}` };
    const code = readErrorCode(m)?.code;
    return code === 500
      ? {
          key: `${port} error 500`,
          failure: `${port} answered 500: ${d.toString('hex').slice(0, 200)}`,
        }
      : { key: `${port} error ${code}` };
  } catch (err) {
    return {
      key: `${port} undecodable`,
      failure: `${port} sent undecodable ${d.toString('hex').slice(0, 100)}: ${String(err)}`,
    };
  }
}

/** One datagram for STUN or TURN. */
function input(
  seed: number,
  i: number,
  f: Fuzzer,
  creds: TurnCredentialsResult,
): { port: 'stun' | 'turn'; bytes: Uint8Array } {
  const rng = inputRng(seed, i);
  const port = chance(rng, 3) ? 'stun' : 'turn';
  const r = rng.int(10);
  if (r === 0) {
    // Anything at all, first byte across RFC 7983's ranges (0xC0–0xCF: natpush sessions).
    const b = randomBytes(1 + rng.int(200));
    b[0] = pick(rng, [0x00, 0x01, 0x14, 0x40, 0x7f, 0x80, 0xc0 + rng.int(16), 0xff]);
    return { port, bytes: b };
  }
  if (r === 1) return { port, bytes: randomInput(rng) };
  if (port === 'stun' || r === 2) return { port, bytes: mutate(rng, pick(rng, seedMessages())) };
  const key = longTermKey(creds.username, f.realm, creds.password);
  const t = templates(rng, creds.username, f.realm, f.nonce, key);
  const base = pick(rng, t);
  return { port, bytes: chance(rng, 4) ? base : mutate(rng, base) };
}

async function stunAnswers(port: number): Promise<boolean> {
  const s = await bind('127.0.0.1');
  try {
    // Retried every 500 ms for up to 10 s: one Binding lost (to the flood's rate limits, or a
    // starved CI machine) is not a dead server.
    let retry: NodeJS.Timeout | undefined;
    let t: NodeJS.Timeout | undefined;
    return await new Promise<boolean>((resolve) => {
      t = setTimeout(() => resolve(false), 10_000);
      s.once('message', () => resolve(true));
      const send = () => s.send(new StunMessageBuilder(BINDING_REQUEST).build(), port, '127.0.0.1');
      send();
      retry = setInterval(send, 500);
    }).finally(() => {
      clearTimeout(t);
      clearInterval(retry);
    });
  } finally {
    s.close();
  }
}

/**
 * Two honest peers allocate on serve's relay and relay data, the way natpush peers get there:
 * each allows the other (its contact list), announces its relayed candidate through the
 * signaling server, and binds a channel once the other's candidate has arrived — the server
 * forwarded it, so it has recorded the pair and serve's relay admits their permissions
 * (src/signaling/rendezvous.ts). Before that, the relay refuses them with 403, as it must.
 */
async function relayStillWorks(url: string): Promise<string> {
  const peers: RawPeer[] = [];
  const clients: TurnClient[] = [];
  try {
    peers.push(await RawPeer.login(url), await RawPeer.login(url));
    const [pa, pb] = peers as [RawPeer, RawPeer];
    await Promise.all([pa.allow([pb.id.peerId]), pb.allow([pa.id.peerId])]);
    for (const p of peers) {
      const c = await p.turnCredentials();
      const m = /^turn:(.+):(\d+)\?transport=udp$/.exec(c.urls[0] ?? '');
      if (!m) return `no UDP turn URL in ${JSON.stringify(c.urls)}`;
      clients.push(
        await TurnClient.allocate({
          server: { address: m[1]!, port: Number(m[2]) },
          net: nodeUdpNetwork,
          username: c.username,
          password: c.password,
        }),
      );
    }
    const [a, b] = clients as [TurnClient, TurnClient];
    for (const [from, to, mine] of [
      [pa, pb, a.relayedAddress],
      [pb, pa, b.relayedAddress],
    ] as const) {
      from.send({
        type: 'candidates',
        to: to.id.peerId,
        rid: 'udp-fuzz-check',
        candidates: [{ type: 'relay', protocol: 'udp', address: mine.address, port: mine.port }],
      });
      await to.next('candidates', (m) => m.from === from.id.peerId);
    }
    await a.bindChannel(b.relayedAddress);
    await b.bindChannel(a.relayedAddress);
    const got = new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 5_000);
      b.onData((d) => {
        if (Buffer.from(d).toString() === 'honest') {
          clearTimeout(t);
          resolve(true);
        }
      });
    });
    a.send(b.relayedAddress, Buffer.from('honest'));
    return (await got) ? 'ok' : 'data did not cross the relay';
  } catch (err) {
    return String(err);
  } finally {
    for (const c of clients) await c.close();
    for (const p of peers) p.close();
  }
}

export async function runUdpFuzz(o: {
  count: number;
  seed: number;
  budgetMs?: number;
  sockets?: number;
}): Promise<UdpFuzzReport> {
  const t0 = performance.now();
  const serve: FuzzServe = await startFuzzServe();
  try {
    if (!serve.stunPort || !serve.turnPort)
      throw new Error(`serve has no STUN or TURN port:\n${serve.stdout()}`);
    const before = serve.rss() ?? 0;
    const sampler = rssSampler(serve);
    const honest = await HonestPair.start(serve.url);
    honest.run();
    const fuzzPeer = await Peer.connect({ server: serve.url, identity: generateIdentity() });
    const creds = await fuzzPeer.turnCredentials();
    const answers: Record<string, number> = {};
    const failures: string[] = [];
    const fuzzers: Fuzzer[] = [];
    for (let i = 0; i < (o.sockets ?? 16); i++) {
      // Many source addresses: per-address limits are part of what is exercised, not all of it.
      const socket = await bind(`127.0.3.${1 + i}`);
      const { nonce, realm } = await learnNonce(socket, serve.turnPort);
      socket.on('message', (d, from) => {
        const c = classify(from.port === serve.stunPort ? 'stun' : 'turn', d);
        answers[c.key] = (answers[c.key] ?? 0) + 1;
        if (c.failure && failures.length < 50) failures.push(c.failure);
      });
      fuzzers.push({ socket, nonce, realm });
    }
    const deadline = Date.now() + (o.budgetMs ?? Infinity);
    let inputs = 0;
    for (let i = 0; i < o.count && !serve.exit && Date.now() < deadline; i++) {
      const f = fuzzers[i % fuzzers.length]!;
      const x = input(o.seed, i, f, creds);
      f.socket.send(x.bytes, x.port === 'stun' ? serve.stunPort : serve.turnPort, '127.0.0.1');
      inputs++;
      // Let the answers in, and do not overrun the socket buffers (drops would hide inputs).
      if (i % 32 === 31) await new Promise((r) => setTimeout(r, 1));
    }
    await new Promise((r) => setTimeout(r, 500));
    for (const f of fuzzers) f.socket.close();
    await fuzzPeer.close();
    const stunAlive = await stunAnswers(serve.stunPort);
    const relayAlive = await relayStillWorks(serve.url);
    const honestReport = await honest.finish();
    sampler.stop();
    const errs = errorLines(serve.stderr());
    return {
      seed: o.seed,
      inputs,
      answers,
      failures,
      honest: honestReport,
      stunAlive,
      relayAlive,
      crashed: serve.exit,
      errorLogs: errs.slice(0, 10),
      rss: { before, peak: sampler.peak(), after: serve.rss() ?? 0 },
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await serve.stop();
  }
}

export function formatUdpReport(r: UdpFuzzReport): string {
  const MB = (b: number) => `${(b / 2 ** 20).toFixed(0)} MB`;
  return [
    `udp fuzz, seed ${r.seed}: ${r.inputs} datagrams in ${r.seconds.toFixed(1)} s (${(r.inputs / r.seconds).toFixed(0)}/s)`,
    `  server: ${r.crashed ? `CRASHED ${JSON.stringify(r.crashed)}` : 'alive'}, STUN after: ${r.stunAlive ? 'answers' : 'SILENT'}, ` +
      `relay after: ${r.relayAlive}; RSS before ${MB(r.rss.before)}, peak ${MB(r.rss.peak)}, after ${MB(r.rss.after)}`,
    `  honest: ${r.honest.sent} sent, ${r.honest.received} received once, ${r.honest.missing.length} missing, ${r.honest.duplicates.length} duplicates`,
    `  answers:`,
    ...Object.entries(r.answers)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `    ${String(v).padStart(8)}  ${k}`),
    ...(r.failures.length > 0
      ? [`  FAILURES (seed ${r.seed}):`, ...r.failures.slice(0, 20).map((f) => `    ${f}`)]
      : []),
    ...(r.errorLogs.length > 0
      ? ['  server error logs:', ...r.errorLogs.map((l) => '    ' + l.slice(0, 300))]
      : []),
  ].join('\n');
}
