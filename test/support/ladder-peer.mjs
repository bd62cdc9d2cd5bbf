// A natpush peer (the built library) driven over stdio, for the punch benchmark
// (bench/punch-latency.ts, bench/direct-throughput.ts) and the netsim ladder matrix. Run with node
// inside a lab namespace. Plain ESM so it needs no build step of its own (it imports dist/).
//
// Two modes, chosen by what the built `Peer` offers:
//   ladder     `Peer.ping()` exists (g-peer's ladder): pings go through it, the path is its own.
//   connector  no `Peer.ping`, or NATPUSH_BENCH_MODE=connector: this driver composes the parts
//              itself — the logged-in `Peer` (direct: false) as the punch layer's signaling
//              (CONTRACTS §4), a `PunchConnector` on one UDP socket with serve's STUN and TURN,
//              then a Noise IK `SecureSession` and a `ReliableChannel` over the punched path; the
//              ping is the channel's authenticated ping/pong. The responder answers on its own.
//   NATPUSH_BENCH_PREWARM=1 loads dist/bench/lib/punch-prewarm.js (an experiment, see there).
//   NATPUSH_BENCH_CHANNEL='{"maxInFlightPackets":1024,…}' overrides the ReliableChannel defaults
//   in this process (bench/direct-throughput.ts `--compare`: the old limits and the new in one run).
//
// argv: serverUrl [identityPath]   (with identityPath: log in at once, as `{"login":{}}` would)
// in  {"login":{"relay":bool}}     fresh identity, Peer.connect(allow anyone), punch layer
//                                  (relay=false: no TURN candidate)
// out {"ready":{"id":ID,"publicKey":K,"mode":M,"loginMs":T}}
// in  {"ping":{"to":ID,"publicKey":K,"count":N,"untilDirect":bool,"intervalMs":T}}
// out {"pong":{"seq":i,"path":P,"rttMs":R,"sinceStartMs":T,"phases":{...}}} per pong (ladder:
//     path "direct" only if the ping also left on the direct path; phases = ms since the ping's
//     start at which rendezvous frames left/arrived and the path turned direct), then
// out {"pinged":{"count":N}} | {"pingError":"..."}
// in  {"flood":{"to":ID,"n":N,"size":B,"window":W}}  (after a ping) N notifications (Peer.notify,
//                                  or the channel in connector mode), at most W unacknowledged;
//                                  each body starts with its send time
// out {"flooded":{"n":N,"ms":T,"errors":E,"paths":{P:count}}}   all acknowledged (sender side)
// out {"floodRx":{"n":N,"firstAt":T0,"lastAt":T1,"latencies":[ms...]}}  (receiver, 500 ms quiet)
// in  {"send":{"to":ID,"n":N,"prefix":S}}  (ladder mode) N notifications via peer.notify
// out {"sent":{"prefix":S,"paths":{P:count},"errors":[...]}}
// out {"got":{...}} / {"path":{...}}       (ladder mode) the Peer's notifications and path events
// out {"offer":{"t":ISO,"nat":F,"candidates":[type…],"ok":B}}  (LADDER_DEBUG) an offer registered
//     with serve
// in  {"logout":true}  → out {"closed":true};  in {"close":true}: close and exit 0
import os from 'node:os';
import process from 'node:process';
import { setTimeout, clearTimeout } from 'node:timers';
import { performance } from 'node:perf_hooks';
import { URL } from 'node:url';
import readline from 'node:readline';

const [server, identityPath] = process.argv.slice(2);
const dist = new URL('../../dist/src/', import.meta.url).href;
const lib = await import(`${dist}index.js`);
const { PunchConnector } = await import(`${dist}punch/index.js`);
const { SecureSession, ReliableChannel, RELIABLE_DEFAULTS } = await import(
  `${dist}session/index.js`
);
// Every channel reads the defaults when it is made (reliable.ts): set before any exists.
if (process.env.NATPUSH_BENCH_CHANNEL)
  Object.assign(RELIABLE_DEFAULTS, JSON.parse(process.env.NATPUSH_BENCH_CHANNEL));
const { nodeUdpNetwork } = await import(`${dist}net/index.js`);
const { systemClock } = await import(`${dist}util/clock.js`);
const { jsonLogger } = await import(`${dist}util/logger.js`);
// Bench experiment (bench/lib/punch-prewarm.ts): gather when the punch layer is made.
if (process.env.NATPUSH_BENCH_PREWARM === '1')
  await import(new URL('../../dist/bench/lib/punch-prewarm.js', import.meta.url).href);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
/** Wall time in ms with sub-ms precision: comparable across processes on one machine. */
const debug = process.env.LADDER_DEBUG
  ? (...a) => process.stderr.write(`[ladder-peer] ${JSON.stringify(a)}\n`)
  : () => {};
const wall = () => performance.timeOrigin + performance.now();
const STUN_PORT = 3478;

/** @type {undefined | {peer:any, socket?:any, connector?:any, links:Set<any>, channel?:any}} */
let cur;

/**
 * Ladder mode when the Peer has `ping` (g-peer's ladder), unless NATPUSH_BENCH_MODE=connector
 * forces the composed one (to tell the Peer's own cost from the channel's).
 */
function hasLadder(peer) {
  return typeof peer.ping === 'function' && process.env.NATPUSH_BENCH_MODE !== 'connector';
}

function interfaces() {
  return Object.values(os.networkInterfaces())
    .flat()
    .filter((i) => i && i.family === 'IPv4' && !i.internal)
    .map((i) => i.address);
}

/** The relay's endpoint from serve's `turn:HOST:PORT?transport=udp` URL. */
function turnEndpoint(urls) {
  const m = /^turn:([^:?]+):(\d+)/.exec(urls.find((u) => u.includes('transport=udp')) ?? urls[0]);
  return m ? { address: m[1], port: Number(m[2]) } : undefined;
}

async function login({ identity, relay = true } = {}) {
  const t0 = performance.now();
  const peer = await lib.Peer.connect({
    server,
    identity: identity ?? lib.generateIdentity(),
    allow: 'anyone',
    // LADDER_DEBUG=1: the Peer's own log (punch pair selected, paths) on stderr.
    ...(process.env.LADDER_DEBUG ? { logger: jsonLogger('info') } : {}),
    // A long-lived peer, as `natpush listen` / `ping` are: the punch layer is made at login
    // (NATPUSH_BENCH_WARM=0: at the first session, the library's default).
    warmDirect: process.env.NATPUSH_BENCH_WARM !== '0',
    // Connector mode punches itself: the Peer must not answer the same punches with its own.
    ...(process.env.NATPUSH_BENCH_MODE === 'connector' ? { direct: false } : {}),
    // More Peer options as JSON (the hard-NAT netsim tests: `{"portmap":{"protocols":["pcp"]}}`).
    ...(process.env.LADDER_PEER_OPTIONS ? JSON.parse(process.env.LADDER_PEER_OPTIONS) : {}),
  });
  cur = { peer, links: new Set() };
  // LADDER_DEBUG: every offer registered with serve, with its NAT facts and candidate types. A
  // measurement (filtering, allocation, a port mapping) joins the offer one re-gather later: a
  // test waits for the offer that carries it rather than for a fixed pause.
  if (process.env.LADDER_DEBUG) {
    const send = peer.sendSignal;
    peer.sendSignal = (f) => {
      const ok = send.call(peer, f);
      if (f.type === 'offer')
        out({
          offer: {
            t: new Date().toISOString(), // as the Peer's log lines' `t`
            nat: f.nat ?? null,
            candidates: f.candidates.map((c) => c.type),
            ok,
          },
        });
      return ok;
    };
  }
  const mode = hasLadder(peer) ? 'ladder' : 'connector';
  if (mode === 'ladder') {
    peer.on('path', (p) => out({ path: { peer: p.peer, path: p.path } }));
    void (async () => {
      for await (const n of peer.notifications()) {
        if (n.id.startsWith('f-')) floodRx(n, n.path);
        else out({ got: { from: n.from, id: n.id, body: n.body, path: n.path ?? null } });
      }
    })();
  } else {
    await punchLayer(peer, relay);
  }
  out({
    ready: {
      id: peer.id,
      publicKey: peer.identity.publicKey,
      mode,
      loginMs: performance.now() - t0,
    },
  });
}

/** Connector mode: the punch layer the ladder would build, and the responder side of sessions. */
async function punchLayer(peer, relay) {
  const host = new URL(server).hostname;
  const stunServer = { address: host, port: STUN_PORT };
  let turnServer;
  if (relay) turnServer = turnEndpoint((await peer.turnCredentials()).urls);
  const socket = await nodeUdpNetwork.bindUdp({ address: '0.0.0.0', port: 0 });
  const signaling = {
    get clockOffsetMs() {
      return peer.clockOffsetMs;
    },
    sendSignal: (f) => {
      const ok = peer.sendSignal(f);
      debug('signal out', f.type, ok);
      return ok;
    },
    onSignal(cb) {
      peer.on('signal', (f) => debug('signal in', f));
      peer.on('signal', cb);
      return () => peer.off('signal', cb);
    },
    turnCredentials: async () => {
      const c = await peer.turnCredentials();
      return { username: c.username, password: c.password, expires: c.expires };
    },
  };
  const connector = new PunchConnector({
    socket,
    signaling,
    clock: systemClock,
    interfaces,
    stunServer,
    ...(turnServer ? { turnServer } : {}),
  });
  cur.socket = socket;
  cur.connector = connector;
  connector.onIncoming(({ peer: from, path }) => {
    path.then(
      (p) => {
        const { channel } = sessionOver(p, from, undefined);
        cur.channel = channel;
        channel.onNotification((n) => floodRx(n));
      },
      (err) => out({ incomingError: String(err) }),
    );
  });
}

/** A Noise IK session and a reliable channel over a punched path. */
function sessionOver(path, remotePeerId, remotePublicKey) {
  const session = new SecureSession({
    identity: cur.peer.identity,
    remotePeerId,
    ...(remotePublicKey ? { remotePublicKey } : {}),
    clock: systemClock,
    send: (d) => path.send(d),
  });
  path.onData((d) => session.handle(d));
  const channel = new ReliableChannel({ session, clock: systemClock });
  cur.links.add({ path, session, channel });
  return { session, channel };
}

async function ping(o) {
  const start = performance.now();
  const since = () => performance.now() - start;
  const phases = {};
  const offTap = tap(phases, since);
  try {
    if (hasLadder(cur.peer)) await ladderPing(o, phases, since);
    else await connectorPing(o, phases, since);
  } finally {
    offTap();
  }
}

/**
 * Ladder mode: pings back to back through `Peer.ping` (each pong's path is the link's), plus one
 * sent the moment the link reports a direct path, so the first direct pong is not held up behind
 * a ping still crossing the server. A pong counts as direct only if its ping left on the direct
 * path too (`sessionPath` at send time), or if it came in the answer to the punch's first checks
 * (`firstFlight`: the ping rode in them as the Noise init's 0-RTT data) — and, either way, the
 * link's path is direct when the pong is in (a first flight on a punch that ended on the relay
 * was counted direct before: NOTE4).
 */
async function ladderPing({ to, count = 1, untilDirect = false, intervalMs = 0 }, phases, since) {
  const peer = cur.peer;
  let seq = 0;
  let finished = false;
  let settle;
  const done = new Promise((r) => (settle = r));
  // A ping is one unreliable datagram each way: on the labs' 1 %-loss links (four lossy crossings
  // per round trip) about 1 in 25 is lost, and one lost ping used to end the whole run with
  // `pingError` (CI: hard-nat-peer seq × seq, "SEND_TIMEOUT no pong"). Lost pings are reported
  // and the run goes on, as `ping` tools do; 3 lost in a row, or 8 in all, still end it.
  let lostInARow = 0;
  let lostInAll = 0;
  const one = async () => {
    const sentDirect = peer.sessionPath(to) === 'direct';
    let r;
    try {
      r = await peer.ping(to, { timeoutMs: 5_000 });
    } catch (err) {
      if (err?.code !== 'NATPUSH_ERR_SESSION_SEND_TIMEOUT' || ++lostInARow >= 3 || ++lostInAll >= 8)
        throw err;
      if (!finished) out({ lost: { seq, lostInAll } });
      return;
    }
    lostInARow = 0;
    if (finished) return;
    // A first-flight pong counts only if the punch it rode ended on a direct path: Peer.ping
    // labels one that ended on the relay `relay` (link-table.ts pongPath), and one answered
    // before any path was adopted waits for the next pong (the pair that carried it may lose).
    const direct =
      r.path === 'direct' &&
      (sentDirect || r.firstFlight === true) &&
      peer.sessionPath(to) === 'direct';
    phases.firstPong ??= since();
    out({
      pong: {
        seq: seq++,
        path: direct ? 'direct' : r.path === 'direct' ? 'upgrading' : r.path,
        rttMs: r.rttMs,
        sinceStartMs: since(),
        ...(direct ? { phases } : {}),
      },
    });
    if ((untilDirect && direct) || seq >= count) {
      finished = true;
      settle();
    }
  };
  const onPath = (e) => {
    if (e.peer !== to || e.path !== 'direct' || finished) return;
    phases.pathSelected ??= since();
    void one().catch(() => {});
  };
  const onPunch = (e) => {
    if (e.peer === to && e.ok) phases.punched ??= since();
  };
  peer.on('path', onPath);
  peer.on('punch', onPunch);
  try {
    void (async () => {
      while (!finished) {
        await one();
        if (intervalMs > 0 && !finished) await new Promise((r) => setTimeout(r, intervalMs));
      }
    })().catch((e) => {
      finished = true;
      settle(e);
    });
    const err = await done;
    if (err) throw err;
    out({ pinged: { count: seq } });
  } finally {
    peer.off('path', onPath);
    peer.off('punch', onPunch);
  }
}

/** Connector mode: punch first, then the session and the ping over the punched path. */
async function connectorPing({ to, publicKey, count = 1, untilDirect = false }, phases, since) {
  const path = await cur.connector.connect(to);
  phases.pathSelected = since();
  const { session, channel } = sessionOver(path, to, publicKey);
  cur.channel = channel;
  session.onEstablished(() => (phases.handshake ??= since()));
  for (let seq = 0; seq < count; seq++) {
    const rttMs = await channel.ping();
    out({
      pong: {
        seq,
        path: path.kind,
        remoteType: path.remoteType,
        rttMs,
        sinceStartMs: since(),
        ...(seq === 0 ? { phases } : {}),
      },
    });
    if (untilDirect && path.kind === 'direct') break;
  }
  out({ pinged: { count } });
}

/** Record when rendezvous frames leave and arrive (the punch's phases on the critical path). */
function tap(phases, since) {
  const peer = cur.peer;
  const orig = peer.sendSignal;
  peer.sendSignal = (f) => {
    if (f.type === 'candidates') phases.candidatesSent ??= since();
    if (f.type === 'punch') phases.punchSent ??= since();
    return orig.call(peer, f);
  };
  const onSig = (f) => {
    if (f.type === 'candidates') phases.candidatesReceived ??= since();
    if (f.type === 'punch-start') {
      phases.punchStartReceived ??= since();
      // When checks begin locally: `at` is server time (connector.ts converts it the same way).
      phases.checksStart ??= since() + Math.max(0, f.at - peer.clockOffsetMs - Date.now());
      phases.punchRttMs ??= f.rtt;
      phases.clockOffsetMs ??= peer.clockOffsetMs;
    }
  };
  peer.on('signal', onSig);
  return () => {
    peer.sendSignal = orig; // ours, or the one login put there (LADDER_DEBUG's offer lines)
    peer.off('signal', onSig);
  };
}

let rx;
/** Receiver side of `flood`: arrival count, span and one-way latencies (same machine clock). */
function floodRx(n, path = 'direct') {
  if (!n.id.startsWith('f-')) return;
  const now = wall();
  const sentAt = Number(n.body.slice(0, n.body.indexOf(' ')));
  rx ??= { n: 0, firstAt: now, lastAt: now, latencies: [], paths: {} };
  rx.n++;
  rx.lastAt = now;
  rx.latencies.push(now - sentAt);
  rx.paths[path] = (rx.paths[path] ?? 0) + 1;
  clearTimeout(rx.timer);
  rx.timer = setTimeout(() => {
    const r = { ...rx };
    delete r.timer;
    rx = undefined;
    out({ floodRx: r });
  }, 500);
}

/**
 * N notifications of `size` bytes with at most `window` unacknowledged (each `send`/`notify`
 * resolves on the remote's ack); bodies start with their send time for the receiver's latency.
 */
let floods = 0;
async function flood({ to, n, size, window = 64 }) {
  // Ids are unique per flood: receivers dedupe by (sender, id) and would drop a repeated one.
  const tag = `f-${process.pid}.${floods++}`;
  const peer = cur.peer;
  const ch = cur.channel;
  const ladder = hasLadder(peer);
  const t0 = performance.now();
  const paths = {};
  let next = 0;
  let errors = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const stamp = wall().toFixed(3) + ' ';
      const body = stamp + 'x'.repeat(Math.max(0, size - stamp.length));
      try {
        if (ladder) {
          const r = await peer.notify(to, body, { id: `${tag}-${i}` });
          paths[r.path] = (paths[r.path] ?? 0) + 1;
        } else {
          await ch.send({ id: `${tag}-${i}`, body });
        }
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
  // Connector mode: the sender's channel counters (retransmissions, congestion window) too.
  const channel = ch && !ladder ? { ...ch.stats, congestion: ch.congestion } : undefined;
  out({ flooded: { n, ms: performance.now() - t0, errors, paths, channel } });
}

async function send({ to, n, prefix }) {
  const paths = {};
  const errors = [];
  for (let i = 0; i < n; i += 10) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 10); j++) {
      batch.push(
        cur.peer
          .notify(to, `${prefix} ${j}`, { id: `${prefix}-${j}`, deliveryTimeoutMs: 20_000 })
          .then(
            (r) => (paths[r.path] = (paths[r.path] ?? 0) + 1),
            (e) => errors.push(`${j}: ${e.code ?? ''} ${e.message}`),
          ),
      );
    }
    await Promise.all(batch);
  }
  out({ sent: { prefix, paths, errors } });
}

async function logout() {
  if (!cur) return;
  const c = cur;
  cur = undefined;
  for (const l of c.links) {
    l.channel.close();
    l.session.close();
    l.path.close();
  }
  await c.connector?.close();
  await c.socket?.close();
  await c.peer.close();
}

const fail = (what) => (e) => out({ [what]: `${e?.code ?? ''} ${e?.message ?? e}` });

if (identityPath) await login({ identity: identityPath });
for await (const line of readline.createInterface({ input: process.stdin })) {
  const msg = JSON.parse(line);
  if (msg.login) void login(msg.login).catch(fail('loginError'));
  if (msg.ping) void ping(msg.ping).catch(fail('pingError'));
  if (msg.flood) void flood(msg.flood).catch(fail('floodError'));
  if (msg.send) void send(msg.send).catch(fail('sendError'));
  if (msg.logout) await logout().then(() => out({ closed: true }), fail('logoutError'));
  if (msg.close) break;
}
await logout();
process.exit(0);
