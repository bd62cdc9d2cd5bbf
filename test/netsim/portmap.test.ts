/**
 * natpush's port-mapping client (src/punch/portmap) against a real miniupnpd (Debian 2.3.1,
 * rebuilt by scripts/build-miniupnpd.sh) on a netsim NAT:
 * - NAT-PMP, then PCP, then UPnP-IGD v2, each alone: the mapping is granted on the router's
 *   public address, miniupnpd's own nft table holds the DNAT rule, `upnpc -l` (miniupnpc, an
 *   independent client) lists it, a public host's datagram to the mapped address reaches the
 *   mapped socket and its answer comes back; after close the rule is gone from the table and
 *   from `upnpc -l`;
 * - all three at once: one wins, one rule;
 *   and a peer behind a random-port symmetric NAT reaches it too (port-restricted × symmetric,
 *   no path without the mapping);
 * - UPnP-IGD v1 on a symmetric NAT: the mapping lets a public host in where the NAT alone drops
 *   everything unsolicited, and a peer behind another symmetric NAT (symmetric × symmetric);
 * - nat-check behind each router: what is offered, the test mapping (deleted again), the
 *   allocation pattern; --no-portmap;
 * - a router behind carrier-grade NAT: no mapping is offered or used (miniupnpd refuses on a
 *   reserved WAN address; our client reports NO_GATEWAY / NOT_PUBLIC) and its table stays empty.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStun } from '../../bench/lib/hard-nat-lab.js';
import { Lab } from '../../netsim/index.js';
import type { NatReport } from '../../src/stun/index.js';
import { requireBuiltCli } from '../support/natpush-cli.js';
import { NETSIM_REQUIREMENTS, missingPrereq } from '../support/prereq.js';
import { Probe } from '../support/probe.js';

function miniupnpdBuilt(): string | undefined {
  if (existsSync(fileURLToPath(new URL('../../.cache/miniupnpd/miniupnpd', import.meta.url)))) {
    return undefined;
  }
  const reason = 'netsim: miniupnpd not built; run scripts/build-miniupnpd.sh (as root)';
  // As prereq.ts does: CI must never pass by skipping.
  if (process.env.CI === 'true') throw new Error(`CI=true, refusing to skip: ${reason}`);
  process.stderr.write(`skip ${reason}\n`);
  return reason;
}

const skip =
  missingPrereq('netsim', {
    ...NETSIM_REQUIREMENTS,
    commands: { ...NETSIM_REQUIREMENTS.commands, upnpc: 'miniupnpc' },
  }) ?? miniupnpdBuilt();

const DIST = fileURLToPath(new URL('../../dist', import.meta.url));
const AGENT = fileURLToPath(new URL('./portmap-agent.mjs', import.meta.url));

interface AgentMsg {
  ready?: { port: number };
  mapped?: { via: string; external: string; lifetimeSec: number; ms: number };
  error?: { code: string; message: string };
  recv?: { from: string; data: string };
  closed?: boolean;
  mapClosed?: { granted: boolean; code?: string };
  outcomes?: Record<string, unknown>;
}

/** The agent in a lab host, driven over stdio. */
class Agent {
  readonly #msgs: AgentMsg[] = [];
  readonly #waiters = new Set<() => void>();
  port = 0;
  constructor(readonly child: ChildProcess) {
    readline.createInterface({ input: child.stdout! }).on('line', (l) => {
      this.#msgs.push(JSON.parse(l) as AgentMsg);
      for (const w of [...this.#waiters]) w();
    });
  }
  static async start(lab: Lab, host: string): Promise<Agent> {
    const a = new Agent(
      lab.spawn(host, process.execPath, [AGENT, DIST], { stdio: ['pipe', 'pipe', 'inherit'] }),
    );
    a.port = (await a.take((m) => m.ready !== undefined, 10_000)).ready!.port;
    return a;
  }
  send(m: object): void {
    this.child.stdin!.write(JSON.stringify(m) + '\n');
  }
  take(pred: (m: AgentMsg) => boolean, timeoutMs: number): Promise<AgentMsg> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const i = this.#msgs.findIndex(pred);
        if (i < 0) return false;
        this.#waiters.delete(check);
        clearTimeout(t);
        resolve(this.#msgs.splice(i, 1)[0]!);
        return true;
      };
      const t = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error('agent: no answer in time'));
      }, timeoutMs);
      if (!check()) this.#waiters.add(check);
    });
  }
  async map(protocols: string[]): Promise<AgentMsg> {
    this.send({ map: { protocols } });
    return this.take((m) => m.mapped !== undefined || m.error !== undefined, 20_000);
  }
  async close(): Promise<void> {
    this.send({ close: true });
    await this.take((m) => m.closed === true, 10_000);
  }
}

describe.skipIf(skip)('port mapping against miniupnpd (netsim)', () => {
  let lab: Lab;
  const agents: Agent[] = [];
  let pub: Probe;
  let pubSock: string;
  /** A peer behind a random-port symmetric NAT of its own. */
  let sym: Probe;
  let symSock: string;
  let stun: { endpoint: string; child: ChildProcess };

  beforeAll(async () => {
    lab = await Lab.create({
      nats: [
        { name: 'r2', preset: 'port-restricted', miniupnpd: true },
        { name: 'r1', preset: 'symmetric', miniupnpd: { igdVersion: 1 } },
        { name: 'cgn', preset: 'port-restricted' },
        { name: 'home', preset: 'port-restricted', behind: 'cgn', miniupnpd: true },
        { name: 'rs', preset: 'symmetric' },
      ],
      hosts: [
        { name: 'a', behind: 'r2' },
        { name: 'b', behind: 'r1' },
        { name: 'c', behind: 'home' },
        { name: 'p' },
        { name: 's', behind: 'rs' },
      ],
    });
    pub = await Probe.start(lab, 'p');
    pubSock = (await pub.bind()).sock;
    sym = await Probe.start(lab, 's');
    symSock = (await sym.bind()).sock;
    stun = await startStun(lab);
  });

  afterAll(async () => {
    stun?.child.kill('SIGKILL');
    for (const a of agents) a.child.kill('SIGKILL');
    pub?.close();
    sym?.close();
    await lab?.destroy();
  });

  async function agent(host: string): Promise<Agent> {
    const a = await Agent.start(lab, host);
    agents.push(a);
    return a;
  }

  async function table(nat: string): Promise<string> {
    return (await lab.exec(nat, 'nft', ['list', 'table', 'inet', 'miniupnpd'])).stdout;
  }

  async function upnpcList(host: string): Promise<string> {
    // -i: upnpc 2.2.4 also takes the lab's RFC 5737 addresses for reserved without it.
    return (await lab.exec(host, 'upnpc', ['-i', '-l'], { timeoutMs: 20_000 })).stdout;
  }

  /**
   * A datagram from a public host (or, `fromSymmetric`, from a host behind a random-port
   * symmetric NAT) to `external` reaches the agent, and the agent's answer comes back.
   */
  async function reachable(
    a: Agent,
    external: string,
    tag: string,
    fromSymmetric = false,
  ): Promise<boolean> {
    const [host, port] = external.split(':');
    const [probe, sock] = fromSymmetric ? [sym, symSock] : [pub, pubSock];
    probe.send(sock, host!, Number(port), tag);
    const got = await a.take((m) => m.recv?.data === tag, 3_000).catch(() => undefined);
    const echo = await probe.recv(sock, 3_000, `echo:${tag}`);
    return got !== undefined && echo !== undefined;
  }

  it.each(['natpmp', 'pcp', 'upnp'])(
    '%s alone: granted, seen by miniupnpd and upnpc, reachable, gone after close',
    async (proto) => {
      const a = await agent('a');
      const r = await a.map([proto]);
      expect(r.error).toBeUndefined();
      expect(r.mapped!.via).toBe(proto);
      expect(r.mapped!.external).toBe(`${lab.address('r2')}:${a.port}`);
      expect(await table('r2')).toContain(
        `dport ${a.port} dnat ip to ${lab.address('a')}:${a.port}`,
      );
      expect(await upnpcList('a')).toMatch(
        new RegExp(`UDP\\s+${a.port}->${lab.address('a')}:${a.port}`),
      );
      expect(await reachable(a, r.mapped!.external, `hello-${proto}`)).toBe(true);
      // A peer behind a symmetric NAT gets direct too (port-restricted × symmetric: no path
      // without the mapping or birthday probing).
      expect(await reachable(a, r.mapped!.external, `sym-${proto}`, true)).toBe(true);
      await a.close();
      expect(await table('r2')).not.toContain(`dport ${a.port} `);
      expect(await upnpcList('a')).not.toContain(`${a.port}->`);
      process.stdout.write(`portmap ${proto}: granted in ${r.mapped!.ms} ms\n`);
    },
  );

  it('all protocols at once: the first grant wins, one rule, deleted on close', async () => {
    const a = await agent('a');
    const r = await a.map(['pcp', 'natpmp', 'upnp']);
    expect(r.error).toBeUndefined();
    expect(['pcp', 'natpmp', 'upnp']).toContain(r.mapped!.via);
    const rules = (await table('r2')).split('\n').filter((l) => l.includes(`dport ${a.port} dnat`));
    expect(rules).toHaveLength(1);
    expect(await reachable(a, r.mapped!.external, 'hello-race')).toBe(true);
    await a.close();
    expect(await table('r2')).not.toContain(`dport ${a.port} `);
    process.stdout.write(`portmap race: ${r.mapped!.via} won in ${r.mapped!.ms} ms\n`);
  });

  /**
   * Orphan mappings: the client closes while its request is anywhere in flight (before the
   * probe, during it, while the router grants, just after). Whatever the timing, nothing may be
   * left in miniupnpd's table: a grant that answers after close() began is deleted at once.
   * The delays sweep the whole exchange (grants took 10–30 ms NAT-PMP, 18–77 ms PCP, 130–182 ms
   * UPnP here), so some land inside the grant's round trip; the assertion holds for every one.
   */
  it.each(['natpmp', 'pcp', 'upnp'])(
    '%s: closed while mapping, at any moment, leaves no mapping on miniupnpd',
    async (proto) => {
      const a = await agent('a');
      const outcomes: string[] = [];
      for (const afterMs of [0, 2, 5, 10, 20, 40, 80, 120, 160, 240, 400, 800]) {
        a.send({ mapClose: { protocols: [proto], afterMs } });
        const r = (await a.take((m) => m.mapClosed !== undefined, 20_000)).mapClosed!;
        outcomes.push(`${afterMs}:${r.granted ? 'granted' : (r.code ?? '?')}`);
        expect(await table('r2'), `${proto} closed after ${afterMs} ms`).not.toContain(
          `dport ${a.port} `,
        );
      }
      process.stdout.write(`portmap ${proto} map+close: ${outcomes.join(' ')}\n`);
    },
    120_000,
  );

  it('UPnP-IGD v1 on a symmetric NAT: the mapping lets a public host in', async () => {
    const b = await agent('b');
    // Control: without a mapping the symmetric NAT drops the unsolicited datagram.
    expect(await reachable(b, `${lab.address('r1')}:${b.port}`, 'unsolicited')).toBe(false);
    const r = await b.map(['upnp']);
    expect(r.error).toBeUndefined();
    expect(r.mapped!.external).toBe(`${lab.address('r1')}:${b.port}`);
    expect(await reachable(b, r.mapped!.external, 'hello-v1')).toBe(true);
    // symmetric × symmetric, direct by the mapping.
    expect(await reachable(b, r.mapped!.external, 'sym-v1', true)).toBe(true);
    await b.close();
    expect(await table('r1')).not.toContain(`dport ${b.port} `);
  });

  it('behind carrier-grade NAT: no protocol offers a usable mapping, none is left', async () => {
    const c = await agent('c');
    const r = await c.map(['pcp', 'natpmp', 'upnp']);
    expect(r.mapped).toBeUndefined();
    expect(['NATPUSH_ERR_PORTMAP_NO_GATEWAY', 'NATPUSH_ERR_PORTMAP_NOT_PUBLIC']).toContain(
      r.error!.code,
    );
    expect(await table('home')).not.toMatch(/dnat ip to/);
    process.stdout.write(`portmap behind CGN: ${r.error!.code}: ${r.error!.message}\n`);
  });

  async function natCheck(host: string, extra: string[] = []): Promise<NatReport> {
    const r = await lab.exec(
      host,
      process.execPath,
      [requireBuiltCli(), 'nat-check', '--server', stun.endpoint, '--json', '--no-tcp', ...extra],
      { timeoutMs: 40_000 },
    );
    if (r.code !== 0) throw new Error(`nat-check in ${host} failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as NatReport;
  }

  it('nat-check reports what the router offers, the mapping granted (deleted again), the allocation', async () => {
    const [a, b, c, off] = await Promise.all([
      natCheck('a'),
      natCheck('b'),
      natCheck('c'),
      natCheck('a', ['--no-portmap']),
    ]);
    expect(a.portMapping!.offered).toMatchObject({
      pcp: { ok: true },
      natpmp: { ok: true },
      upnp: { ok: true },
    });
    expect(a.portMapping!.granted!.external.address).toBe(lab.address('r2'));
    expect(a.allocation!.pattern).toEqual({ kind: 'preserving' });
    expect(b.allocation!.pattern).toEqual({ kind: 'random' });
    expect(b.portMapping!.granted!.external.address).toBe(lab.address('r1'));
    expect(c.portMapping!.granted).toBeUndefined();
    expect(c.portMapping!.error!.code).toMatch(/NO_GATEWAY|NOT_PUBLIC/);
    expect(off.portMapping).toBeUndefined();
    // Nothing left on the routers.
    expect(await table('r2')).not.toMatch(/dnat ip to/);
    expect(await table('r1')).not.toMatch(/dnat ip to/);
  });
});

describe.skipIf(skip)('a miniupnpd router lab cleans up', () => {
  it('destroy kills the daemon, removes its table (with the namespace) and its run files', async () => {
    const lab = await Lab.create({
      nats: [{ name: 'r', preset: 'port-restricted', miniupnpd: true }],
      hosts: [{ name: 'a', behind: 'r' }],
    });
    let pid: number;
    try {
      const runDir = `/run/natpush-netsim/${lab.name}.d/r`;
      pid = Number(readFileSync(`${runDir}/miniupnpd.pid`, 'utf8'));
      expect(existsSync(`/proc/${pid}`)).toBe(true);
      expect((await lab.exec('r', 'nft', ['list', 'tables'])).stdout).toContain('inet miniupnpd');
    } finally {
      await lab.destroy();
    }
    const alive = (() => {
      try {
        return !/^\d+ \(.*\) [ZX]/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        return false;
      }
    })();
    expect(alive).toBe(false);
    expect(existsSync(`/run/natpush-netsim/${lab.name}.d`)).toBe(false);
    expect(
      (await import('node:child_process')).execFileSync('ip', ['netns', 'list']).toString(),
    ).not.toContain(lab.prefix);
  });
});
