/**
 * The delivery ladder across real kernel NATs: one natpush `Peer` process per lab host, each
 * behind its own netsim preset, all logged in to one `natpush serve` (signaling + STUN + TURN) on
 * the lab's internet server; every link has 20 ms delay and 1 % loss. For each pair of hosts, each
 * side sends 100 notifications to the other while the ladder upgrades in the background; each one
 * must arrive exactly once, and the path of the last ones must be the expected rung: direct for
 * cone × cone, symmetric × full/restricted cone (peer-reflexive), CGN × cone and two hosts behind
 * one NAT; symmetric × port-restricted and × CGN direct by birthday probing or relay (issue 11:
 * hard-nat-peer.test.ts asserts birthday); relay for symmetric × symmetric; relay when UDP is
 * blocked (the TURN allocation over TCP, RFC 8656 §3.1), and server-routed when UDP is blocked
 * and the relay's TCP port too. Then two resilience cases: the
 * NAT's conntrack table flushed mid-stream, and `serve` killed after the direct path is up.
 * The table of final paths is printed at the end.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Lab } from '../../netsim/index.js';
import {
  exactlyOnce,
  exchange,
  LadderDriver,
  type Msg,
  reportDriversOnFailure,
  serveListening,
} from '../support/ladder-driver.js';
import { requireBuiltCli } from '../support/natpush-cli.js';
import { NETSIM_REQUIREMENTS, missingPrereq } from '../support/prereq.js';

const skip = missingPrereq('netsim', {
  ...NETSIM_REQUIREMENTS,
  commands: { ...NETSIM_REQUIREMENTS.commands, tcpdump: 'tcpdump' },
});
const DRIVER = fileURLToPath(new URL('../support/ladder-peer.mjs', import.meta.url));
const N = 100;
// Per test: a cell waits up to 20 s for its rung and up to 60 s for its notifications, and took
// up to 27 s in CI runs on the loaded 2-core machine: the netsim default of 60 s was too close.
vi.setConfig({ testTimeout: 180_000 });
const LINK = { delayMs: 20, lossPercent: 1 };

type Path = 'direct' | 'relay' | 'server-routed' | 'mailbox';

/** host → NAT it sits behind (one NAT per host unless two hosts share one on purpose). */
const NATS = [
  { name: 'nfc', preset: 'full-cone' },
  { name: 'nrc', preset: 'restricted-cone' },
  { name: 'npr', preset: 'port-restricted' },
  { name: 'nsym', preset: 'symmetric' },
  { name: 'nsym2', preset: 'symmetric' },
  { name: 'cgn', preset: 'port-restricted' },
  { name: 'home', preset: 'full-cone', behind: 'cgn' },
  { name: 'nblk', preset: 'port-restricted', udpBlocked: true },
  // UDP blocked, and TCP to the relay's port too (beforeAll adds the rule): server-routed.
  { name: 'nblk2', preset: 'port-restricted', udpBlocked: true },
  { name: 'nlan', preset: 'port-restricted' },
  { name: 'nhp', preset: 'port-restricted', hairpinning: true },
] as const;
const HOSTS = [
  ['fc', 'nfc'],
  ['rc', 'nrc'],
  ['pr', 'npr'],
  ['sym', 'nsym'],
  ['sym2', 'nsym2'],
  ['cg', 'home'],
  ['ub', 'nblk'],
  ['ubt', 'nblk2'],
  ['lan1', 'nlan'],
  ['lan2', 'nlan'],
  ['hp1', 'nhp'],
  ['hp2', 'nhp'],
] as const;
type Host = (typeof HOSTS)[number][0];

/** serve's TURN relay port (`serve --relay-port`, default 3479), UDP and TCP. */
const RELAY_PORT = 3479;
/** [a, b, acceptable final paths]. */
const PAIRS: [Host, Host, Path[]][] = [
  ['fc', 'rc', ['direct']],
  ['fc', 'pr', ['direct']],
  ['rc', 'pr', ['direct']],
  ['pr', 'cg', ['direct']],
  ['fc', 'cg', ['direct']],
  ['sym', 'fc', ['direct']],
  ['sym', 'rc', ['direct']],
  // Direct by birthday probing in most runs; asserted with its probability bound in
  // hard-nat-peer.test.ts, so this matrix accepts the relay too and cannot flake on it.
  ['sym', 'pr', ['direct', 'relay']],
  ['sym', 'sym2', ['relay']],
  ['sym', 'cg', ['relay', 'direct']],
  ['lan1', 'lan2', ['direct']],
  ['hp1', 'hp2', ['direct']],
  // UDP blocked: the relay over TCP (its relayed address is UDP, so any peer reaches it).
  ['ub', 'fc', ['relay']],
  ['ub', 'sym', ['relay']],
  // ... and with the relay's TCP port blocked as well: the server rung stays.
  ['ubt', 'fc', ['server-routed']],
];

describe.skipIf(skip)('the delivery ladder across real NATs (netsim, 20 ms, 1 % loss)', () => {
  let lab: Lab | undefined;
  let dir = '';
  let server: ChildProcess | undefined;
  const drivers = new Map<Host, LadderDriver>();
  const table: string[] = [];
  reportDriversOnFailure(() => drivers.values());

  beforeAll(async () => {
    const cli = requireBuiltCli();
    dir = mkdtempSync(join(tmpdir(), 'np-netsim-ladder-'));
    lab = await Lab.create({
      nats: NATS.map((n) => ({ ...n, link: LINK })),
      hosts: HOSTS.map(([name, behind]) => ({ name, behind })),
    });
    // nblk2 drops TCP to the relay too (netsim's udp-blocked option drops only UDP).
    const tcpBlock = await lab.exec('nblk2', 'nft', [
      'insert',
      'rule',
      'ip',
      'natpush',
      'forward',
      'tcp',
      'dport',
      String(RELAY_PORT),
      'drop',
    ]);
    expect(tcpBlock.code, tcpBlock.stderr).toBe(0);
    const url = `http://${lab.address('server')}:8787`;
    server = lab.spawn(
      'server',
      process.execPath,
      [cli, 'serve', '--port', '8787', '--data-dir', join(dir, 'data'), '--log-level', 'warn'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await serveListening(server);
    await Promise.all(
      HOSTS.map(async ([host]) => {
        // stderr piped: a crash's output shows in the driver's state on failure.
        // fc and rc (the last cell's pair) also log their Peer's info log: a failure there
        // shows the Peer's own account (paths, punches, signaling).
        const child = lab!.spawn(host, process.execPath, [DRIVER, url, join(dir, `${host}.pem`)], {
          stdio: ['pipe', 'pipe', 'pipe'],
          ...(host === 'fc' || host === 'rc' ? { env: { ...process.env, LADDER_DEBUG: '1' } } : {}),
        });
        const d = new LadderDriver(host, child);
        drivers.set(host, d);
        d.peer = String(((await d.next((m) => 'ready' in m, { what: '"ready"' })).ready as Msg).id);
      }),
    );
  }, 120_000);

  afterAll(async () => {
    if (table.length > 0) {
      // eslint-disable-next-line no-console
      console.log(`\nladder matrix (final path a→b / b→a):\n${table.join('\n')}`);
    }
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each(PAIRS)('%s × %s: 100 each way exactly once, final path %j', async (ha, hb, want) => {
    const a = drivers.get(ha)!;
    const b = drivers.get(hb)!;
    // Warm-up round: the ladder starts server-routed and upgrades in the background.
    const [wa, wb] = await exchange(a, b, N, `w${ha}${hb}`);
    expect(wa.errors).toEqual([]);
    expect(wb.errors).toEqual([]);
    await exactlyOnce(b, a, N, `w${ha}${hb}a`);
    await exactlyOnce(a, b, N, `w${ha}${hb}b`);
    // Give the upgrade its chance (a punch takes a few round trips; over TCP the relay comes
    // after the Allocate over UDP timed out, 3 s; a punch that failed or gave the relay is tried
    // again after its backoff, 5 s, then 10 s): wait, bounded, until both sides' last path event
    // is an expected rung and no new one came for 2 s, then the measured round. Waiting for the
    // FIRST such event and a fixed 3 s (as before) let a rung that came and went — a relay first,
    // a path dropped and re-punched — leave the measured round on another one. The wait never
    // fails the test; the assertions below decide, with both sides' path events.
    await Promise.all([a.settled(b.peer, want), b.settled(a.peer, want)]);
    const [sa, sb] = await exchange(a, b, N, `${ha}${hb}`);
    expect(sa.errors).toEqual([]);
    expect(sb.errors).toEqual([]);
    const ra = await exactlyOnce(b, a, N, `${ha}${hb}a`);
    const rb = await exactlyOnce(a, b, N, `${ha}${hb}b`);
    const last = (got: Msg[]) => String(got[got.length - 1]!.path);
    table.push(
      `  ${`${ha} × ${hb}`.padEnd(14)} ${last(ra)} / ${last(rb)}  sent ${JSON.stringify(sa.paths)} / ${JSON.stringify(sb.paths)}`,
    );
    const paths = `a→b path events ${JSON.stringify(a.paths(b.peer))}, b→a ${JSON.stringify(b.paths(a.peer))}`;
    expect(want, paths).toContain(last(ra));
    expect(want, paths).toContain(last(rb));
  });

  it('conntrack flushed mid-stream on a NAT: nothing lost or duplicated, direct again', async () => {
    const a = drivers.get('fc')!;
    const b = drivers.get('pr')!;
    a.write({ send: { to: b.peer, n: N, prefix: 'flusha' } });
    await new Promise((r) => setTimeout(r, 200));
    const f = await lab!.exec('npr', 'conntrack', ['-F']);
    expect(f.code, f.stderr).toBe(0);
    const s = (await a.next((m) => (m.sent as Msg | undefined)?.prefix === 'flusha')).sent as Msg;
    expect(s.errors).toEqual([]);
    await exactlyOnce(b, a, N, 'flusha');
    // The flush may or may not have killed the direct path (the NAT may map the next packet out
    // to the same port): if it did, the link fell back and re-punches after its backoff (5 s,
    // 10 s after a failed try, …), so wait for both sides to be direct again and quiet for 2 s,
    // bounded; a CI run under load took longer than the fixed 5 s this used to wait.
    await Promise.all([a.settled(b.peer, ['direct']), b.settled(a.peer, ['direct'])]);
    const [sa] = await exchange(a, b, N, 'reflush');
    const ra = await exactlyOnce(b, a, N, 'reflusha');
    await exactlyOnce(a, b, N, 'reflushb');
    expect(sa.errors).toEqual([]);
    const paths = `a→b path events ${JSON.stringify(a.paths(b.peer))}, b→a ${JSON.stringify(b.paths(a.peer))}`;
    expect(String(ra[ra.length - 1]!.path), paths).toBe('direct');
  }, 300_000);

  it('a capture at the server and relay holds no plaintext of peer-to-peer notifications', async () => {
    // tcpdump on the lab server's only interface sees everything serve and its relay send and
    // receive: the relayed session (symmetric × symmetric), the relayed session over TCP
    // (UDP-blocked × full-cone), the sealed server rung (UDP and relay-TCP blocked × full-cone)
    // and, as a control that the capture works, an app POST over plain HTTP whose body must
    // show up.
    const rel = [drivers.get('sym')!, drivers.get('sym2')!] as const;
    const tcp = [drivers.get('ub')!, drivers.get('fc')!] as const;
    const srv = [drivers.get('ubt')!, drivers.get('fc')!] as const;
    // Warm-up (the matrix above does it too when run in full): let the relay paths come up.
    await Promise.all([
      exchange(rel[0], rel[1], N, 'capwarm'),
      exchange(tcp[0], tcp[1], N, 'tcpwarm'),
    ]);
    await exactlyOnce(rel[1], rel[0], N, 'capwarma');
    await exactlyOnce(tcp[1], tcp[0], N, 'tcpwarma');
    // Both relayed pairs on the relay (bounded; over TCP it comes after the Allocate over UDP
    // timed out), not a fixed 3 s: the rounds below must leave on the relay only.
    await Promise.all(
      [rel, tcp].flatMap(([x, y]) => [x.settled(y.peer, ['relay']), y.settled(x.peer, ['relay'])]),
    );
    const pcap = join(dir, 'server.pcap');
    const dump = lab!.spawn(
      'server',
      'tcpdump',
      ['-i', 'eth0', '--immediate-mode', '-U', '-s', '0', '-w', pcap],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    const exited = new Promise<void>((r) => dump.once('exit', () => r()));
    const dumpErr: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(
        () =>
          reject(new Error(`tcpdump: no "listening on" in 30 s; stderr: ${dumpErr.join('\n')}`)),
        30_000,
      );
      void exited.then(() => reject(new Error(`tcpdump exited: ${dumpErr.join('\n')}`)));
      readline.createInterface({ input: dump.stderr! }).on('line', (l) => {
        dumpErr.push(l);
        if (!/listening on/.test(l)) return;
        clearTimeout(t);
        resolve();
      });
    });
    const [sr] = await exchange(rel[0], rel[1], N, 'secretrelaybody');
    const [st] = await exchange(tcp[0], tcp[1], N, 'secrettcpbody');
    const [ss] = await exchange(srv[0], srv[1], N, 'secretserverbody');
    const events = (x: LadderDriver, y: LadderDriver) =>
      `${x.host}→${y.host} path events ${JSON.stringify(x.paths(y.peer))}`;
    expect(Object.keys(sr.paths as object), events(...rel)).toEqual(['relay']);
    expect(Object.keys(st.paths as object), events(...tcp)).toEqual(['relay']);
    expect(Object.keys(ss.paths as object), events(...srv)).toEqual(['server-routed']);
    await exactlyOnce(rel[1], rel[0], N, 'secretrelaybodya');
    await exactlyOnce(tcp[1], tcp[0], N, 'secrettcpbodya');
    await exactlyOnce(srv[1], srv[0], N, 'secretserverbodya');
    const key = readFileSync(join(dir, 'data', 'api-key'), 'utf8').trim();
    const url = `http://${lab!.address('server')}:8787/v1/peers/${srv[1].peer}/notifications`;
    const post = `const r = await fetch(${JSON.stringify(url)}, { method: 'POST',
      headers: { authorization: 'Bearer ${key}', 'content-type': 'application/json' },
      body: JSON.stringify({ body: 'appcontrolplaintext' }) }); process.stdout.write(String(r.status));`;
    const r = await lab!.exec('fc', process.execPath, ['--input-type=module', '-e', post]);
    expect(r.stdout, r.stderr).toBe('202');
    await srv[1].next((m) => (m.got as Msg | undefined)?.body === 'appcontrolplaintext');
    // --immediate-mode: no TPACKET_V3 block timeout holding the last packets back; then a moment
    // for the last ones to be written before tcpdump is told to stop.
    await new Promise((r) => setTimeout(r, 500));
    dump.kill('SIGINT');
    await exited;
    const bytes = readFileSync(pcap).toString('latin1');
    expect(bytes.length).toBeGreaterThan(10_000);
    expect(bytes).toContain('appcontrolplaintext');
    // Bodies are "<prefix> <n>". On the relay nothing of the session is readable, ids included;
    // on the server rung the ids (`<prefix>-<n>`) are visible by design (the server routes,
    // dedupes and acks by id), the bodies are not.
    expect(bytes).not.toContain('secretrelaybody');
    expect(bytes).not.toContain('secrettcpbody');
    expect(bytes).toContain('secretserverbodya-');
    expect(bytes).not.toContain('secretserverbodya ');
    expect(bytes).not.toContain('secretserverbodyb ');
  });

  it('serve killed after the direct path is up: the session keeps delivering directly', async () => {
    const a = drivers.get('fc')!;
    const b = drivers.get('rc')!;
    // The precondition, now: fc × rc's direct path came up in its matrix cell, minutes ago (a
    // loaded run reached this test 5-10 min later, with both sides idle in between). Exchange
    // and wait until both report direct, as a cell does, and check the round arrived direct.
    const [pa, pb] = await exchange(a, b, N, 'presrv');
    expect(pa.errors).toEqual([]);
    expect(pb.errors).toEqual([]);
    await exactlyOnce(b, a, N, 'presrva');
    await exactlyOnce(a, b, N, 'presrvb');
    await Promise.all([a.settled(b.peer, ['direct']), b.settled(a.peer, ['direct'])]);
    const [qa] = await exchange(a, b, 10, 'presrv2');
    expect(Object.keys(qa.paths as object)).toEqual(['direct']);
    await exactlyOnce(b, a, 10, 'presrv2a');
    await exactlyOnce(a, b, 10, 'presrv2b');
    server!.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    const [sa, sb] = await exchange(a, b, N, 'nosrv');
    expect(sa.errors).toEqual([]);
    expect(sb.errors).toEqual([]);
    expect(Object.keys(sa.paths as object)).toEqual(['direct']);
    await exactlyOnce(b, a, N, 'nosrva');
    await exactlyOnce(a, b, N, 'nosrvb');
  }, 300_000);
});
