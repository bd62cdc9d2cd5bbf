// A port-mapping client for test/netsim/portmap.test.ts, run with node inside a lab host (plain
// ESM importing the built natpush from dist/). JSON lines on stdio:
//   out {"ready":{"port":P}}                   the UDP socket whose port gets mapped
//   in  {"map":{"protocols":[...]}}            map P → out {"mapped":{via,external,lifetimeSec}}
//                                              or {"error":{code,message}}
//   out {"recv":{"from":"a:p","data":"..."}}   a datagram on the socket (answered "echo:<data>")
//   in  {"close":true}                         delete the mapping → out {"closed":true}
//   in  {"mapClose":{"protocols":[...],"afterMs":N}}  map P and close the mapper N ms later,
//                                              whatever the request's state → out
//                                              {"mapClosed":{"granted":bool,"code":C}}
//   in  {"exit":true}
import process from 'node:process';
import { performance } from 'node:perf_hooks';
import { setTimeout } from 'node:timers';
import { TextDecoder, TextEncoder } from 'node:util';
import readline from 'node:readline';

const [dist] = process.argv.slice(2);
const { PortMapper } = await import(`${dist}/src/punch/portmap/index.js`);
const { nodeUdpNetwork } = await import(`${dist}/src/net/index.js`);
const { systemClock } = await import(`${dist}/src/util/clock.js`);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

const sock = await nodeUdpNetwork.bindUdp({ port: 0 });
sock.onMessage((data, from) => {
  const text = new TextDecoder().decode(data);
  out({ recv: { from: `${from.address}:${from.port}`, data: text } });
  sock.send(new TextEncoder().encode(`echo:${text}`), from);
});
let mapper;
out({ ready: { port: sock.address().port } });

for await (const line of readline.createInterface({ input: process.stdin })) {
  const m = JSON.parse(line);
  if (m.map) {
    mapper = new PortMapper({
      net: nodeUdpNetwork,
      clock: systemClock,
      protocols: m.map.protocols,
      ...(m.map.lifetimeSec ? { lifetimeSec: m.map.lifetimeSec } : {}),
    });
    const t0 = performance.now();
    try {
      const g = await mapper.map(sock.address().port);
      out({
        mapped: {
          via: g.via,
          external: `${g.external.address}:${g.external.port}`,
          lifetimeSec: g.lifetimeSec,
          ms: Math.round(performance.now() - t0),
        },
        outcomes: Object.fromEntries(mapper.outcomes),
      });
    } catch (e) {
      out({
        error: { code: e.code, message: e.message },
        outcomes: Object.fromEntries(mapper.outcomes),
      });
    }
  } else if (m.mapClose) {
    const mc = new PortMapper({
      net: nodeUdpNetwork,
      clock: systemClock,
      protocols: m.mapClose.protocols,
    });
    const p = mc.map(sock.address().port).then(
      () => ({ granted: true }),
      (e) => ({ granted: false, code: e.code }),
    );
    await new Promise((r) => setTimeout(r, m.mapClose.afterMs));
    await mc.close();
    out({ mapClosed: await p });
  } else if (m.close) {
    await mapper?.close();
    mapper = undefined;
    out({ closed: true });
  } else if (m.exit) {
    await mapper?.close();
    await sock.close();
    process.exit(0);
  }
}
