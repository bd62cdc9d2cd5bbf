// The receiver of test/netsim/mmsg-eagain.test.ts, run with node inside a lab namespace: counts
// the datagrams it gets per tag (the text before the first space). Over stdio:
//   out {"port":P}               bound on 0.0.0.0:P
//   in  {"count":T}   out {"tag":T,"received":N}
//   in  {"exit":true}
import dgram from 'node:dgram';
import process from 'node:process';
import readline from 'node:readline';

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const counts = new Map();
const sock = dgram.createSocket('udp4');
sock.on('message', (msg) => {
  const tag = msg.toString('latin1', 0, 64).split(' ')[0];
  counts.set(tag, (counts.get(tag) ?? 0) + 1);
});
sock.bind(0, '0.0.0.0', () => out({ port: sock.address().port }));
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const m = JSON.parse(line);
  if (m.exit) return void sock.close(() => process.exit(0));
  if (m.count !== undefined) out({ tag: m.count, received: counts.get(m.count) ?? 0 });
});
