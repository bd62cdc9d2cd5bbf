#!/usr/bin/env node
/* global process, setTimeout, clearTimeout, setInterval, clearInterval */
// A tiny network probe that runs inside a netsim namespace (plain JS: no build step needed).
// Driven over stdin/stdout, one JSON object per line:
//   {"op":"bind","sock":"s1","port":0,"address":"0.0.0.0"}   -> {"ev":"bound","sock":"s1","port":N}
//   {"op":"send","sock":"s1","host":"203.0.113.10","port":N,"data":"x"}
//   {"op":"echo","sock":"s1"}        reply to every datagram with its payload, unchanged
//   {"op":"ping","id":"p","sock":"s1","host":..,"port":..,"count":20,"intervalMs":10,"timeoutMs":2000}
//                                    -> {"ev":"ping","id":"p","rtts":[ms,...],"lost":k}
//   {"op":"tcp-listen","sock":"t1","port":0}  -> {"ev":"bound",...}; accepts and closes
//   {"op":"tcp-connect","id":"c","host":..,"port":..,"timeoutMs":1000} -> {"ev":"tcp","id":"c","ok":true|false}
//   {"op":"close","sock":"s1"}
// Every datagram received (outside echo mode) is reported as
//   {"ev":"recv","sock":"s1","from":"ip:port","data":"..."}
// so a test sees the source address:port a NAT gave the sender. Errors: {"ev":"error",...}.
import dgram from 'node:dgram';
import net from 'node:net';
import readline from 'node:readline';

const socks = new Map();
const pings = new Map();
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

function bindUdp(m) {
  const s = dgram.createSocket('udp4');
  const entry = { kind: 'udp', s, echo: false };
  socks.set(m.sock, entry);
  s.on('error', (e) => out({ ev: 'error', sock: m.sock, error: e.message }));
  s.on('message', (msg, rinfo) => {
    const data = msg.toString();
    if (entry.echo) {
      s.send(msg, rinfo.port, rinfo.address);
      return;
    }
    const pending = data.startsWith('ping:') ? pings.get(data.split(':')[1]) : undefined;
    if (pending) {
      pending.onReply(data);
      return;
    }
    out({ ev: 'recv', sock: m.sock, from: `${rinfo.address}:${rinfo.port}`, data });
  });
  s.bind(m.port ?? 0, m.address ?? '0.0.0.0', () =>
    out({ ev: 'bound', sock: m.sock, port: s.address().port }),
  );
}

function tcpListen(m) {
  const srv = net.createServer((c) => c.end());
  socks.set(m.sock, { kind: 'tcp', s: srv });
  srv.on('error', (e) => out({ ev: 'error', sock: m.sock, error: e.message }));
  srv.listen(m.port ?? 0, m.address ?? '0.0.0.0', () =>
    out({ ev: 'bound', sock: m.sock, port: srv.address().port }),
  );
}

function tcpConnect(m) {
  const c = net.connect({ host: m.host, port: m.port });
  const done = (ok, error) => {
    clearTimeout(timer);
    c.destroy();
    out({ ev: 'tcp', id: m.id, ok, ...(error ? { error } : {}) });
  };
  const timer = setTimeout(() => done(false, 'timeout'), m.timeoutMs ?? 1000);
  c.once('connect', () => done(true));
  c.once('error', (e) => done(false, e.message));
}

function ping(m) {
  const entry = socks.get(m.sock);
  const sent = new Map();
  const rtts = [];
  const count = m.count ?? 10;
  let i = 0;
  const finish = () => {
    clearInterval(tick);
    clearTimeout(limit);
    pings.delete(m.id);
    out({ ev: 'ping', id: m.id, rtts, lost: count - rtts.length });
  };
  pings.set(m.id, {
    onReply(data) {
      const t = sent.get(data);
      if (t === undefined) return;
      sent.delete(data);
      rtts.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (rtts.length === count) finish();
    },
  });
  // The reply deadline counts from the last probe sent, not from the first: on a loaded machine
  // setInterval can fall behind count × interval (500 probes 2 ms apart in link.test.ts), and a
  // probe still unsent at a deadline counted from the start would be counted as lost.
  let limit;
  const tick = setInterval(() => {
    if (i >= count) return;
    const payload = `ping:${m.id}:${i++}`;
    sent.set(payload, process.hrtime.bigint());
    entry.s.send(payload, m.port, m.host);
    if (i === count) {
      clearInterval(tick);
      limit = setTimeout(finish, m.timeoutMs ?? 2000);
    }
  }, m.intervalMs ?? 10);
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  let m;
  try {
    m = JSON.parse(line);
  } catch {
    out({ ev: 'error', error: 'bad json' });
    return;
  }
  try {
    if (m.op === 'bind') bindUdp(m);
    else if (m.op === 'send') socks.get(m.sock).s.send(String(m.data ?? ''), m.port, m.host);
    else if (m.op === 'echo') socks.get(m.sock).echo = true;
    else if (m.op === 'ping') ping(m);
    else if (m.op === 'tcp-listen') tcpListen(m);
    else if (m.op === 'tcp-connect') tcpConnect(m);
    else if (m.op === 'close') {
      socks.get(m.sock)?.s.close();
      socks.delete(m.sock);
    } else out({ ev: 'error', error: `unknown op ${m.op}` });
  } catch (e) {
    out({ ev: 'error', sock: m.sock, error: String(e && e.message) });
  }
});
rl.on('close', () => process.exit(0));
out({ ev: 'ready' });
