// One natpush peer for test/netsim/direct-punch.test.ts, run with node inside a lab namespace
// (plain ESM: it imports the built natpush from dist/). It drives a real PunchConnector on one
// real UDP socket; its signaling is the test process, over stdio (one JSON object per line):
//   out {"signal":frame}     a rendezvous frame for serve (candidates / punch)
//   in  {"signal":frame}     a frame from serve (candidates / punch-start)
//   out {"ready":true}       socket bound, listening
//   in  {"connect":peerId}   initiate (the other side answers on its own)
//   out {"path":{kind,remoteType,local,remote,rttMs}}     the selected path
//   out {"echoes":N}         (initiator) N of 50 session datagrams came back over the path
//   in  {"burst":N,"tag":T}  (initiator) send N more, report {"echoes":K}
//   in  {"report":true}      out {"now":{kind,…}|null}: the path as it is now (a selected relayed
//                            pair may since have given way to a direct one: punch/pair-upgrade.ts)
//   out {"dead":reason} / {"moved":{address,port}}   consent lost / the remote rebound
//   in  {"exit":true}
import process from 'node:process';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

const [dist, server, turnUser, turnPass, turnExpires, hideHost] = process.argv.slice(2);
const { PunchConnector, systemInterfaces } = await import(`${dist}/src/punch/index.js`);
const { nodeUdpNetwork } = await import(`${dist}/src/net/index.js`);
const { systemClock } = await import(`${dist}/src/util/clock.js`);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const [address, port] = server.split(':');
const serverEp = { address, port: Number(port) };

const listeners = new Set();
const signaling = {
  clockOffsetMs: 0, // the test process is serve, on the same machine clock
  sendSignal(frame) {
    out({ signal: frame });
    return true;
  },
  onSignal(cb) {
    listeners.add(cb);
    return () => listeners.delete(cb);
  },
  turnCredentials: () =>
    Promise.resolve({ username: turnUser, password: turnPass, expires: Number(turnExpires) }),
};
// hideHost=1: offer no host candidates, so two peers behind one NAT must use its hairpin.
const interfaces = () => (hideHost === '1' ? [] : systemInterfaces());

const socket = await nodeUdpNetwork.bindUdp({ address: '0.0.0.0', port: 0 });
const connector = new PunchConnector({
  socket,
  signaling,
  clock: systemClock,
  interfaces,
  stunServer: serverEp,
  turnServer: serverEp,
});
const describe = (p) => ({
  kind: p.kind,
  remoteType: p.remoteType,
  local: p.local,
  remote: p.remote,
  rttMs: p.rttMs,
});

let path;
const watch = (p) => {
  path = p;
  // RFC 7675 consent lost, or the remote's NAT rebound: report it (the ladder would re-punch).
  p.onDead((reason) => out({ dead: reason }));
  p.onRepunchNeeded((e) => out({ moved: e }));
};

// Responder: echo every session datagram back on the path it came from.
connector.onIncoming(({ path: pending }) => {
  pending.then(
    (p) => {
      watch(p);
      out({ path: describe(p) });
      p.onData((d) => p.send(d));
    },
    (err) => out({ error: String(err) }),
  );
});

/** Send N numbered session datagrams 10 ms apart; report how many came back. */
async function burst(n, tag) {
  const got = new Set();
  const off = path.onData((d) => d[2] === tag && got.add(d[1]));
  for (let i = 0; i < n; i++) {
    path.send(Uint8Array.of(0xc1, i, tag));
    await sleep(10);
  }
  // Wait for the echoes, not a fixed 500 ms: on a loaded machine a relayed round trip (two
  // relay hops, four namespaces) can take longer, and the late ones were counted as lost. Ends
  // at the last echo; only a burst with losses (1 % links) waits the 10 s out.
  const end = Date.now() + 10_000;
  while (got.size < n && Date.now() < end) await sleep(50);
  off();
  out({ echoes: got.size });
}

async function initiate(peer) {
  try {
    const t0 = Date.now();
    const p = await connector.connect(peer);
    watch(p);
    out({ path: { ...describe(p), ms: Date.now() - t0 } });
    await burst(50, 0);
  } catch (err) {
    out({ error: String(err) });
  }
}

out({ ready: true });
for await (const line of readline.createInterface({ input: process.stdin })) {
  const msg = JSON.parse(line);
  if (msg.signal) for (const l of listeners) l(msg.signal);
  else if (msg.connect) void initiate(msg.connect);
  else if (msg.burst) void burst(msg.burst, msg.tag ?? 1);
  else if (msg.report) out({ now: path ? describe(path) : null });
  else if (msg.exit) break;
}
await connector.close();
await socket.close();
process.exit(0);
