// A hard-NAT traversal agent for test/netsim/hard-nat.test.ts and bench/birthday.ts, run with
// node inside a lab host (plain ESM importing the built natpush from dist/). The test process is
// the signaling: JSON lines on stdio.
//   in  {"measure":{"server":"a:p"}}   out {"measured":{pattern,samples}}
//   in  {"prepare":{"server":"a:p","window":N,"pattern":P?}}
//        binds the punch socket (a fresh one for a preserving NAT), learns its reflexive address
//        from the same socket, predicts its own mappings  → out {"prepared":{srflx,predicted}}
//   in  {"probe":{"address":A,"ports":[...],"rounds":R,"gapMs":G,"timeoutMs":T}}
//        sends to A:ports in order, R rounds; answers any datagram from A with "ack" to where it
//        came from → out {"probed":{"heard":"a:p"|null,"ms":M}}
//   in  {"bday-hard":{"easy":"a:p","sockets":N,"timeLimitMs":T}}       out {"ready":{"sockets":n}}
//        once its n sockets are bound and each has sent its first probe (n = 0: none could be
//        bound; always before its "bday"), then                      out {"bday":{...}}
//   in  {"bday-easy":{"hard":A,"budget":K,"paceMs":P,"timeLimitMs":T}}  out {"bday":{...}}
//   in  {"exit":true}
import process from 'node:process';
import readline from 'node:readline';
import { performance } from 'node:perf_hooks';
import { TextEncoder } from 'node:util';
import { setImmediate } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';

const [dist] = process.argv.slice(2);
const { nodeUdpNetwork } = await import(`${dist}/src/net/index.js`);
const { systemClock } = await import(`${dist}/src/util/clock.js`);
const { StunClient } = await import(`${dist}/src/stun/client.js`);
const { measureAllocation } = await import(`${dist}/src/punch/allocation-probe.js`);
const { predictOwnPorts, plannedOrder } = await import(`${dist}/src/punch/port-prediction.js`);
const bday = await import(`${dist}/src/punch/birthday.js`);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const ep = (s) => {
  const [address, port] = s.split(':');
  return { address, port: Number(port) };
};
const deps = { net: nodeUdpNetwork, clock: systemClock };
let punch; // the punch socket
let pattern;

async function srflxOf(socket, server) {
  const client = new StunClient({ socket, clock: systemClock });
  try {
    return (await client.binding(ep(server), { timeoutMs: 3_000 })).mapped;
  } finally {
    client.close();
  }
}

/**
 * `net` whose sockets report `onReady(bound)` once, when every socket bound so far has sent a
 * datagram: runHardSide binds all its sockets, then sprays one probe from each, so that is the
 * moment its mappings exist and the easy side's probes can meet them.
 */
function readyNet(net, onReady) {
  let bound = 0;
  let sent = 0;
  let fired = false;
  const fire = () => {
    if (fired) return;
    fired = true;
    // node:dgram hands a datagram to the kernel a tick after send() (its address lookup):
    // report once those ticks have run, so "ready" means the probes are out.
    setImmediate(() => onReady(bound));
  };
  const wrapped = Object.create(net);
  wrapped.bindUdp = async (o) => {
    const s = await net.bindUdp(o);
    bound++;
    const send = s.send.bind(s);
    let first = true;
    s.send = (data, to) => {
      const r = send(data, to);
      if (first) {
        first = false;
        if (++sent >= bound) fire();
      }
      return r;
    };
    return s;
  };
  return { net: wrapped, fire };
}

async function handle(m) {
  if (m.measure) {
    const r = await measureAllocation({ ...deps, server: ep(m.measure.server) });
    pattern = r.pattern;
    out({ measured: r });
  } else if (m.prepare) {
    const p = m.prepare.pattern ?? pattern ?? { kind: 'random' };
    const sock = await nodeUdpNetwork.bindUdp();
    const srflx = await srflxOf(sock, m.prepare.server);
    // Preserving: the STUN binding took this socket's port as its mapping already, so the
    // punch goes from a fresh socket whose first mapping will keep its local port.
    punch = p.kind === 'preserving' ? await nodeUdpNetwork.bindUdp() : sock;
    const predicted = predictOwnPorts({
      pattern: p,
      lastMappedPort: srflx.port,
      localPort: punch.address().port,
      window: m.prepare.window ?? 4,
    });
    out({ prepared: { srflx: `${srflx.address}:${srflx.port}`, predicted } });
  } else if (m.probe) {
    const { address, ports, rounds, gapMs, timeoutMs } = m.probe;
    const t0 = performance.now();
    let heard = null;
    let heardMs = null;
    const ack = new TextEncoder().encode('ack');
    const off = punch.onMessage((_d, from) => {
      if (from.address !== address) return;
      punch.send(ack, from);
      if (heard === null) heardMs = Math.round(performance.now() - t0);
      heard ??= `${from.address}:${from.port}`;
    });
    // At least `rounds` rounds, and on until something is heard or the time is up: under load
    // the two agents start seconds apart, and the side that starts first must still be sending
    // when the other one opens its NAT.
    const deadline = performance.now() + timeoutMs;
    for (let r = 0; heard === null && (r < rounds || performance.now() < deadline); r++) {
      for (const port of plannedOrder(ports)) {
        punch.send(new TextEncoder().encode('hi'), { address, port });
      }
      await sleep(gapMs);
    }
    // Linger a little so our acks reach the other side too.
    await sleep(300);
    off();
    out({ probed: { heard, heardMs, ms: Math.round(performance.now() - t0) } });
  } else if (m['bday-hard']) {
    const o = m['bday-hard'];
    const plan = { hardSockets: o.sockets, timeLimitMs: o.timeLimitMs };
    const ready = readyNet(nodeUdpNetwork, (sockets) => out({ ready: { sockets } }));
    const r = await bday.runHardSide({ ...deps, net: ready.net }, ep(o.easy), plan).finally(
      () => ready.fire(), // no socket sent (none bound): "ready" still comes before "bday"
    );
    if (r) await sleep(300); // let the ack travel
    await r?.socket.close();
    out({
      bday: r
        ? {
            ok: true,
            ms: r.elapsedMs,
            sent: r.probesSent,
            remote: `${r.remote.address}:${r.remote.port}`,
          }
        : { ok: false },
    });
  } else if (m['bday-easy']) {
    const o = m['bday-easy'];
    const plan = bday.planBirthday({
      budget: o.budget,
      paceMs: o.paceMs,
      timeLimitMs: o.timeLimitMs,
      hardSockets: o.sockets,
    });
    const r = await bday.runEasySide(deps, punch, o.hard, plan);
    out({
      bday: r
        ? {
            ok: true,
            ms: r.elapsedMs,
            sent: r.probesSent,
            remote: `${r.remote.address}:${r.remote.port}`,
            expected: plan.expectedSuccess,
          }
        : { ok: false, expected: plan.expectedSuccess, sent: plan.probePorts.length * 2 },
    });
  } else if (m.exit) {
    process.exit(0);
  }
}

for await (const line of readline.createInterface({ input: process.stdin })) {
  handle(JSON.parse(line)).catch((e) => out({ error: { code: e.code, message: e.message } }));
}
