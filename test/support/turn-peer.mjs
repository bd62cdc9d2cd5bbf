// A TURN peer for netsim tests, run with node inside a lab namespace (plain ESM so it needs no
// build step of its own; it imports the built natpush from dist/).
// Protocol on stdio, one JSON object per line:
//   out {"relayed":{address,port}}       after Allocate
//   in  {"peer":{address,port}}          bind a channel to the other peer's relayed address
//   out {"bound":true}
//   in  {"go":N}                         send N numbered messages, wait for N from the peer
//   out {"received":K,"from":{...}}      then Refresh 0 and exit
import { Buffer } from 'node:buffer';
import process from 'node:process';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

const [dist, server, transport, username, password, timeoutMs] = process.argv.slice(2);
const { TurnClient } = await import(`${dist}/src/relay/index.js`);
const { nodeUdpNetwork } = await import(`${dist}/src/net/index.js`);
const [address, port] = server.split(':');
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

const turn = await TurnClient.allocate({
  server: { address, port: Number(port) },
  transport,
  username,
  password,
  net: nodeUdpNetwork,
  ...(timeoutMs ? { requestTimeoutMs: Number(timeoutMs) } : {}),
});
out({ relayed: turn.relayedAddress });
let peer;
const seen = new Set();
let from;
turn.onData((d, f) => {
  from = f;
  seen.add(Buffer.from(d).readUInt32BE(0));
});
for await (const line of readline.createInterface({ input: process.stdin })) {
  const msg = JSON.parse(line);
  if (msg.peer) {
    peer = msg.peer;
    await turn.bindChannel(peer);
    out({ bound: true });
  } else if (msg.go) {
    for (let i = 0; i < msg.go; i++) {
      const b = Buffer.alloc(200, 1);
      b.writeUInt32BE(i, 0);
      turn.send(peer, b);
      await sleep(2);
    }
    const deadline = Date.now() + 10_000;
    while (seen.size < msg.go && Date.now() < deadline) await sleep(20);
    out({ received: seen.size, from });
    await turn.close();
    process.exit(0);
  }
}
