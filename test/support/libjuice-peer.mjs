// A node-datachannel (libdatachannel + libjuice) WebRTC peer for netsim tests, run with node inside
// a lab namespace. Its only ICE server is the TURN server given, with iceTransportPolicy "relay".
// Plain ESM so it needs no build step.
// argv: host port username password role(offer|answer) messages size
// Protocol on stdio, one JSON object per line; the parent forwards signaling between two peers:
//   out {"description":{sdp,type}} / {"candidate":{candidate,mid}}   local signaling
//   in  {"description":{sdp,type}} / {"candidate":{candidate,mid}}   the other peer's
//   out {"open":true}                    data channel open; then sends N numbered messages
//   out {"received":N,"inOrder":bool,"pair":{local,remote}}   once N messages of the right size came
//   in  {"close":true}                   close, cleanup() and exit 0
import { Buffer } from 'node:buffer';
import process from 'node:process';
import readline from 'node:readline';
import { PeerConnection, cleanup } from 'node-datachannel';

const [hostname, port, username, password, role, messages, size] = process.argv.slice(2);
const N = Number(messages);
const SIZE = Number(size);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

const pc = new PeerConnection(role, {
  iceServers: [{ hostname, port: Number(port), username, password, relayType: 'TurnUdp' }],
  iceTransportPolicy: 'relay',
});
pc.onLocalDescription((sdp, type) => out({ description: { sdp, type } }));
pc.onLocalCandidate((candidate, mid) => out({ candidate: { candidate, mid } }));

let received = 0;
let inOrder = true;
function attach(dc) {
  dc.onMessage((m) => {
    if (!Buffer.isBuffer(m) || m.length !== SIZE || m.readUInt32BE(0) !== received) inOrder = false;
    received++;
    if (received === N) out({ received, inOrder, pair: pc.getSelectedCandidatePair() });
  });
  const send = () => {
    out({ open: true });
    for (let i = 0; i < N; i++) {
      const m = Buffer.alloc(SIZE, role.charCodeAt(0));
      m.writeUInt32BE(i, 0);
      dc.sendMessageBinary(m);
    }
  };
  // The answerer gets its channel already open: onOpen would not fire again.
  if (dc.isOpen()) send();
  else dc.onOpen(send);
}
if (role === 'offer') attach(pc.createDataChannel('netsim'));
else pc.onDataChannel((dc) => attach(dc));

function close() {
  pc.close();
  // libdatachannel's threads keep the process alive until cleanup().
  cleanup();
  process.exit(0);
}

for await (const line of readline.createInterface({ input: process.stdin })) {
  const msg = JSON.parse(line);
  if (msg.description) pc.setRemoteDescription(msg.description.sdp, msg.description.type);
  if (msg.candidate) pc.addRemoteCandidate(msg.candidate.candidate, msg.candidate.mid);
  if (msg.close) close();
}
close();
