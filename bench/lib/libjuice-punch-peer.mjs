// A node-datachannel (libdatachannel + libjuice ICE) peer for bench/punch-latency.ts, run with node
// inside a netsim lab host. Its only ICE server is serve's STUN (no TURN: the comparison is the
// direct path). Long-lived: one fresh PeerConnection per run. Signaling goes through the bench
// process, which delays it as a hop through the server would.
// argv: stunHost stunPort
// in  {"new":{"role":"offer"|"answer"}}   fresh PeerConnection (the answerer echoes every message)
// in  {"go":true}                         offerer: start now (data channel → offer, gathering)
// out {"description":{sdp,type}} / {"candidate":{candidate,mid}}      local signaling
// in  {"description":{sdp,type}} / {"candidate":{candidate,mid}}      the other peer's
// out {"result":{"openMs":T,"echoMs":T,"pair":{local,remote}}}         offerer, from `go`
// in  {"end":true} → out {"ended":true};   in {"close":true}: cleanup() and exit 0
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import readline from 'node:readline';
import { PeerConnection, cleanup } from 'node-datachannel';

const [stunHost, stunPort] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

let pc;
let run = 0;

function fresh(r) {
  run++;
  pc = new PeerConnection(`${r}-${run}`, { iceServers: [`stun:${stunHost}:${stunPort}`] });
  pc.onLocalDescription((sdp, type) => out({ description: { sdp, type } }));
  pc.onLocalCandidate((candidate, mid) => out({ candidate: { candidate, mid } }));
  if (r === 'answer') {
    pc.onDataChannel((dc) => {
      dc.onMessage((m) => dc.sendMessage(typeof m === 'string' ? m : String(m)));
    });
  }
}

function go() {
  const t0 = performance.now();
  const thisPc = pc;
  const dc = pc.createDataChannel('bench');
  let openMs;
  dc.onOpen(() => {
    openMs = performance.now() - t0;
    dc.sendMessage('ping');
  });
  dc.onMessage(() => {
    if (openMs === undefined || thisPc !== pc) return;
    out({
      result: { openMs, echoMs: performance.now() - t0, pair: pc.getSelectedCandidatePair() },
    });
  });
}

function end() {
  try {
    pc?.close();
  } catch {
    // already closed
  }
  pc = undefined;
}

for await (const line of readline.createInterface({ input: process.stdin })) {
  const msg = JSON.parse(line);
  if (msg.new) fresh(msg.new.role);
  if (msg.go) go();
  if (msg.description) pc?.setRemoteDescription(msg.description.sdp, msg.description.type);
  if (msg.candidate) pc?.addRemoteCandidate(msg.candidate.candidate, msg.candidate.mid);
  if (msg.end) {
    end();
    out({ ended: true });
  }
  if (msg.close) break;
}
end();
// libdatachannel's threads keep the process alive until cleanup().
cleanup();
process.exit(0);
