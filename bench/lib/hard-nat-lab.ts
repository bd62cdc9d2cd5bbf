/**
 * Drives test/netsim/hard-nat-agent.mjs in netsim hosts: used by test/netsim/hard-nat.test.ts
 * and bench/birthday.ts. The caller's process plays signaling (it hands each side the other's
 * reflexive address and predicted ports). Runs from source (vitest) and from dist/ (bench).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Lab, type NatPreset } from '../../netsim/index.js';

function firstExisting(rel: string[]): string {
  const paths = rel.map((r) => fileURLToPath(new URL(r, import.meta.url)));
  const found = paths.find((p) => existsSync(p));
  if (!found) throw new Error(`not found: ${paths.join(', ')} (npm run build first?)`);
  return found;
}

/** The agent script (never compiled) and the built natpush it imports. */
const AGENT = () =>
  firstExisting([
    '../../test/netsim/hard-nat-agent.mjs',
    '../../../test/netsim/hard-nat-agent.mjs',
  ]);
const DIST = () =>
  firstExisting(['../../dist/src/index.js', '../../src/index.js']).replace(/\/src\/index\.js$/, '');

export interface AgentMsg {
  measured?: { pattern: { kind: string; delta?: number }; samples: unknown[] };
  prepared?: { srflx: string; predicted: number[] };
  /** heardMs: from the start of probing to the first datagram from the peer. */
  probed?: { heard: string | null; heardMs: number | null; ms: number };
  bday?: { ok: boolean; ms?: number; sent?: number; remote?: string; expected?: number };
  /** The birthday hard side's sockets are bound and each sent its first probe. */
  ready?: { sockets: number };
  error?: { code: string; message: string };
}

export class HardNatAgent {
  readonly #msgs: AgentMsg[] = [];
  readonly #waiters = new Set<() => boolean>();
  private constructor(readonly child: ChildProcess) {
    readline.createInterface({ input: child.stdout! }).on('line', (l) => {
      this.#msgs.push(JSON.parse(l) as AgentMsg);
      for (const w of [...this.#waiters]) w();
    });
  }

  static start(lab: Lab, host: string): HardNatAgent {
    return new HardNatAgent(
      lab.spawn(host, process.execPath, [AGENT(), DIST()], { stdio: ['pipe', 'pipe', 'inherit'] }),
    );
  }

  /** Sends `m` and waits for the answer carrying `key` (or an error). */
  ask<K extends keyof AgentMsg>(
    m: object,
    key: K,
    timeoutMs = 30_000,
  ): Promise<NonNullable<AgentMsg[K]>> {
    this.child.stdin!.write(JSON.stringify(m) + '\n');
    return this.next(key, timeoutMs);
  }

  /** Waits for the next message carrying `key` (or an error), sending nothing. */
  next<K extends keyof AgentMsg>(key: K, timeoutMs = 30_000): Promise<NonNullable<AgentMsg[K]>> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const i = this.#msgs.findIndex((x) => x[key] !== undefined || x.error !== undefined);
        if (i < 0) return false;
        const [msg] = this.#msgs.splice(i, 1);
        this.#waiters.delete(check);
        clearTimeout(t);
        if (msg!.error) reject(new Error(`${msg!.error.code}: ${msg!.error.message}`));
        else resolve(msg![key]!);
        return true;
      };
      const t = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`agent: no ${String(key)} in ${timeoutMs} ms`));
      }, timeoutMs);
      if (!check()) this.#waiters.add(check);
    });
  }

  /** An agent on this host, outside any lab (tests of the agent itself). */
  static spawnHere(): HardNatAgent {
    return new HardNatAgent(
      spawn(process.execPath, [AGENT(), DIST()], { stdio: ['pipe', 'pipe', 'inherit'] }),
    );
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

/** Starts `natpush stun` (RFC 5780, two addresses) on the lab's server; resolves its endpoint. */
export async function startStun(lab: Lab): Promise<{ endpoint: string; child: ChildProcess }> {
  const cli = firstExisting(['../../dist/src/cli/main.js', '../../src/cli/main.js']);
  const a1 = lab.address('server');
  const a2 = lab.alternateAddress('server');
  const child = lab.spawn(
    'server',
    process.execPath,
    [cli, 'stun', '--listen', `${a1}:3478`, '--alternate', `${a2}:3479`],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout! });
    rl.on('line', (l) => l.includes('listening') && resolve());
    child.once('exit', (code) => reject(new Error(`natpush stun exited with ${code}`)));
  });
  return { endpoint: `${a1}:3478`, child };
}

export interface PunchOutcome {
  direct: boolean;
  /** Time to direct: both sides' STUN + prediction, then until the later side heard the other. */
  ms: number;
  a: { predicted: number[]; heard: string | null };
  b: { predicted: number[]; heard: string | null };
}

/**
 * Prediction punch between agents a and b (each measured first, or told its pattern): both
 * prepare, exchange srflx + predicted ports, and probe the other's predicted ports (or its
 * srflx when it predicts nothing) for `rounds` rounds. Direct = both heard the other.
 */
export async function predictionPunch(
  a: HardNatAgent,
  b: HardNatAgent,
  stun: string,
  opts: { window?: number; rounds?: number; gapMs?: number; timeoutMs?: number } = {},
): Promise<PunchOutcome> {
  const t0 = performance.now();
  const prepared = Promise.all([
    a.ask({ prepare: { server: stun, window: opts.window ?? 4 } }, 'prepared'),
    b.ask({ prepare: { server: stun, window: opts.window ?? 4 } }, 'prepared'),
  ]);
  const [pa, pb] = await prepared;
  const prepareMs = performance.now() - t0;
  const target = (p: { srflx: string; predicted: number[] }) => {
    const [address, port] = p.srflx.split(':');
    return { address: address!, ports: p.predicted.length > 0 ? p.predicted : [Number(port)] };
  };
  const probe = {
    rounds: opts.rounds ?? 5,
    gapMs: opts.gapMs ?? 100,
    timeoutMs: opts.timeoutMs ?? 1_500,
  };
  const [ra, rb] = await Promise.all([
    a.ask({ probe: { ...target(pb), ...probe } }, 'probed'),
    b.ask({ probe: { ...target(pa), ...probe } }, 'probed'),
  ]);
  const direct = ra.heard !== null && rb.heard !== null;
  return {
    direct,
    ms: direct
      ? Math.round(prepareMs + Math.max(ra.heardMs ?? 0, rb.heardMs ?? 0))
      : Math.round(performance.now() - t0),
    a: { predicted: pa.predicted, heard: ra.heard },
    b: { predicted: pb.predicted, heard: rb.heard },
  };
}

/** One birthday attempt: `hard` behind a random-port symmetric NAT, `easy` behind a cone. */
export async function birthdayAttempt(
  hard: HardNatAgent,
  easy: HardNatAgent,
  stun: string,
  hardPublicAddress: string,
  opts: { sockets?: number; budget?: number; paceMs?: number; timeLimitMs?: number } = {},
): Promise<{ ok: boolean; ms: number; sent: number; expected: number }> {
  const pe = await easy.ask({ prepare: { server: stun, pattern: { kind: 'random' } } }, 'prepared');
  const timeLimitMs = opts.timeLimitMs ?? 20_000;
  const sockets = opts.sockets ?? 256;
  const hardRun = hard.ask(
    { 'bday-hard': { easy: pe.srflx, sockets, timeLimitMs } },
    'bday',
    timeLimitMs + 10_000,
  );
  hardRun.catch(() => {}); // awaited below; a failure while waiting for "ready" is that one's
  // The easy side starts once the hard side's mappings exist: its sockets are bound and each
  // sent its first probe (the agent's "ready", always before its "bday"). A fixed head start
  // was too short on a loaded machine, where binding 256 sockets can take longer.
  await hard.next('ready', timeLimitMs);
  const easyRun = easy.ask(
    {
      'bday-easy': {
        hard: hardPublicAddress,
        budget: opts.budget ?? 2048,
        paceMs: opts.paceMs ?? 2,
        timeLimitMs,
        sockets,
      },
    },
    'bday',
    timeLimitMs + 10_000,
  );
  const [h, e] = await Promise.all([hardRun, easyRun]);
  return {
    ok: h.ok && e.ok,
    ms: e.ms ?? timeLimitMs,
    sent: e.sent ?? 0,
    expected: e.expected ?? 0,
  };
}

/**
 * A lab of `parallel` copies of each cell (id, preset of side 1, preset of side 2): NATs named
 * `${id}${k}${nats[i]}`, one host behind each named `${id}${k}${hosts[i]}`.
 */
export function pairedLab(
  cells: readonly (readonly [string, NatPreset, NatPreset])[],
  parallel: number,
  nats: readonly [string, string],
  hosts: readonly [string, string],
): Promise<Lab> {
  const each = <T>(f: (id: string, k: number, x: NatPreset, y: NatPreset) => T[]): T[] =>
    cells.flatMap(([id, x, y]) =>
      Array.from({ length: parallel }, (_, k) => f(id, k, x, y)).flat(),
    );
  return Lab.create({
    nats: each((id, k, x, y) => [
      { name: `${id}${k}${nats[0]}`, preset: x },
      { name: `${id}${k}${nats[1]}`, preset: y },
    ]),
    hosts: each((id, k) => [
      { name: `${id}${k}${hosts[0]}`, behind: `${id}${k}${nats[0]}` },
      { name: `${id}${k}${hosts[1]}`, behind: `${id}${k}${nats[1]}` },
    ]),
  });
}

/** The p-quantile (0..1) of unsorted samples. */
export function quantile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
}
