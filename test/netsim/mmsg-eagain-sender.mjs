// The sender of test/netsim/mmsg-eagain.test.ts, run with node inside a lab namespace (plain ESM:
// it imports the built natpush from dist/). One batched UDP socket (native/udp-mmsg) with a tiny
// kernel send buffer; the test drives it over stdio, one JSON object per line:
//   out {"ready":true}
//   in  {"burst":N,"bytes":B,"tag":T,"to":{address,port}}   N datagrams of B bytes, one JS task
//   out {"burst":T,"drops":[{code,reason,count}],"turns":K}  the UdpDropErrors the burst caused,
//        once the event loop has turned K times after it (it never blocked in the send)
//   in  {"exit":true}
import { Buffer } from 'node:buffer';
import process from 'node:process';
import { setImmediate } from 'node:timers';
import readline from 'node:readline';

const [dist] = process.argv.slice(2);
const { createMmsgUdpNetwork } = await import(`${dist}/src/net/mmsg-network.js`);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

// 4 KiB asked, so the kernel's minimum-ish send buffer (it doubles what is asked): a handful of
// queued datagrams fill it, and sendmmsg(MSG_DONTWAIT) meets EAGAIN.
const net = createMmsgUdpNetwork({ bufferBytes: 4096 });
const sock = await net.bindUdp({ address: '0.0.0.0' });
const drops = [];
sock.onError((e) => drops.push({ code: e.code, reason: e.reason, count: e.count }));

const turn = () => new Promise((r) => setImmediate(r));

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const m = JSON.parse(line);
  if (m.exit) return void sock.close().then(() => process.exit(0));
  if (m.burst === undefined) return;
  for (let i = 0; i < m.burst; i++) {
    const payload = Buffer.alloc(m.bytes, 0x2e);
    payload.write(`${m.tag} ${i}\n`);
    sock.send(payload, m.to);
  }
  // The batch goes out at the end of this task (a microtask); its drops are reported there.
  void (async () => {
    let turns = 0;
    for (; turns < 3; turns++) await turn();
    out({ burst: m.tag, drops: drops.splice(0), turns });
  })();
});
out({ ready: true });
