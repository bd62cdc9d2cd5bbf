// Two node-datachannel (libdatachannel + libjuice) PeerConnections in one child process, for
// relay-libjuice.test.ts: their only ICE server is the TURN server given, iceTransportPolicy
// "relay"; they signal each other in-process, open a data channel, send N numbered messages each
// way and report. Plain ESM so it needs no build step.
//
// Why a child process: libdatachannel 0.33's native threads can deadlock (a juice poll thread and
// the DTLS workers each wait for the other's mutex) and then the JavaScript thread blocks too, so
// nothing in the process — no timer, no vitest timeout — runs again. A CI run hung that way. In a
// child, the test's deadline SIGKILLs it and starts afresh.
//
// argv: port userA passA userB passB messages size
// stdout, one JSON object per line:
//   {"stage":"..."}                                  progress (the last one says where it stood)
//   {"result":{received:{a,b},candidates:{a,b},pairs:{a,b},states}}   once N arrived each way
//   {"direct":"srflx -> relay"}                      libjuice chose a pair that bypasses the relay
// The parent SIGKILLs the process once it has read a result: closing is where libdatachannel
// deadlocks most, and nothing is left to check by then.
import { Buffer } from 'node:buffer';
import process from 'node:process';
import { PeerConnection } from 'node-datachannel';

const [port, userA, passA, userB, passB, messages, size] = process.argv.slice(2);
const N = Number(messages);
const SIZE = Number(size);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

// REST usernames are "expiry:user" and contain a colon, so the IceServer object form is used
// rather than the turn:user:pass@host URL.
const config = (username, password) => ({
  iceServers: [
    { hostname: '127.0.0.1', port: Number(port), username, password, relayType: 'TurnUdp' },
  ],
  iceTransportPolicy: 'relay',
});
const a = new PeerConnection('a', config(userA, passA));
const b = new PeerConnection('b', config(userB, passB));

const candidates = { a: [], b: [] };
a.onLocalDescription((sdp, type) => b.setRemoteDescription(sdp, type));
b.onLocalDescription((sdp, type) => a.setRemoteDescription(sdp, type));
a.onLocalCandidate((c, mid) => {
  candidates.a.push(c);
  b.addRemoteCandidate(c, mid);
});
b.onLocalCandidate((c, mid) => {
  candidates.b.push(c);
  a.addRemoteCandidate(c, mid);
});
for (const [name, pc] of [
  ['a', a],
  ['b', b],
]) {
  pc.onStateChange((s) => out({ stage: `${name} state ${s}` }));
  pc.onIceStateChange((s) => out({ stage: `${name} ice ${s}` }));
}

// Sequence number of each message in arrival order, -1 for one of the wrong size.
const received = { a: [], b: [] };
let finished = 0;
const pairOf = (pc) => {
  const p = pc.getSelectedCandidatePair();
  return { local: p?.local.type, remote: p?.remote.type };
};
function onMessage(side) {
  return (m) => {
    const ok = Buffer.isBuffer(m) && m.length === SIZE;
    received[side].push(ok ? m.readUInt32BE(0) : -1);
    if (received[side].length === N && ++finished === 2) {
      out({
        result: {
          received,
          candidates,
          pairs: { a: pairOf(a), b: pairOf(b) },
          states: { a: a.state(), b: b.state() },
        },
      });
    }
  };
}
const message = (from, i) => {
  const m = Buffer.alloc(SIZE, from.charCodeAt(0));
  m.writeUInt32BE(i, 0);
  return m;
};

let dcA;
let dcB;
let opened = 0;
function onOpen() {
  if (++opened < 2) return;
  out({ stage: 'both data channels open' });
  // libdatachannel issue 1587: on loopback libjuice sometimes nominates a pair from its own base
  // socket (reported as srflx) straight to the other side's relayed address, bypassing the
  // relay. That attempt proves nothing about our relay; the parent starts a fresh one.
  for (const pc of [a, b]) {
    const p = pairOf(pc);
    if (p.local !== 'relay' || p.remote !== 'relay') {
      out({ direct: `${p.local ?? '?'} -> ${p.remote ?? '?'}` });
      return;
    }
  }
  let refused = 0;
  for (let i = 0; i < N; i++) {
    if (!dcA.sendMessageBinary(message('a', i))) refused++;
    if (!dcB.sendMessageBinary(message('b', i))) refused++;
  }
  out({ stage: `sent ${N} each way, ${refused} refused by the channel` });
}
b.onDataChannel((dc) => {
  dcB = dc;
  dc.onMessage(onMessage('b'));
  // The answerer gets its channel already open: onOpen would not fire again.
  if (dc.isOpen()) onOpen();
  else dc.onOpen(onOpen);
});
dcA = a.createDataChannel('relay-test');
dcA.onMessage(onMessage('a'));
dcA.onOpen(onOpen);
dcA.onError((e) => out({ stage: `a data channel error: ${e}` }));
out({ stage: 'offer made' });
