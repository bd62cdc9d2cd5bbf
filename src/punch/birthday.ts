/**
 * Birthday probing between a random-port symmetric NAT ("hard" side) and an endpoint-independent
 * one ("easy" side), as Tailscale does it (tailscale.com/blog/how-nat-traversal-works, "the
 * birthday paradox"): the hard side opens `n` sockets and sends from each to the easy side's
 * mapped address, which gives it n random external ports on its NAT, each open to exactly that
 * address; the easy side sends to `k` distinct random ports of the hard side's public address.
 * A probe that hits one of the n ports is let in (it comes from the endpoint that mapping was
 * opened to); the hard side answers from that socket, and the easy side's NAT lets the answer
 * in because the probe went out to that port. First success wins; the spare sockets close.
 *
 * Success probability for k distinct probes into a space of N ports of which n are open
 * (hypergeometric, no replacement):
 *   P = 1 − Π_{i=0}^{k−1} (N − n − i) / (N − i)   ≈ 1 − (1 − n/N)^k
 * With N = 64512 (Linux `random-fully`, 1024–65535), n = 256: k = 1024 → 98.3 %, k = 2048 →
 * 99.97 %. Pure planning here; `runHardSide` / `runEasySide` execute a plan on an injected
 * network and clock.
 */
import type { Clock, TimerHandle } from '../util/clock.js';
import type { Endpoint, UdpNetwork, UdpSocket } from '../net/udp.js';

/** Linux `random-fully` picks across 1024–65535 (and most NATs stay above 1023). */
export const DEFAULT_PORT_RANGE: readonly [number, number] = [1024, 65535];
/** Tailscale's choice: 256 sockets is cheap for one host and gives the numbers above. */
export const DEFAULT_HARD_SOCKETS = 256;
/**
 * Probes the easy side sends at most. Each one is a conntrack entry on the easy side's NAT for
 * up to 30 s (unanswered UDP), so the budget is also politeness toward that NAT.
 */
export const DEFAULT_PROBE_BUDGET = 2048;
export const MAX_PROBE_BUDGET = 16384;
export const MAX_HARD_SOCKETS = 1024;
/** One probe every 2 ms: 2048 probes in ~4 s, 500 packets/s — well below any flood limit. */
export const DEFAULT_PACE_MS = 2;
/** Probes sent per pacing tick (the clock's granularity is ~1 ms; batching keeps it exact). */
export const PROBES_PER_TICK = 4;
/** The whole attempt gives up after this long (issue 11: each attempt within 20 s). */
export const DEFAULT_TIME_LIMIT_MS = 20_000;
/** The easy side walks its list at most this often: once, and once more for lost probes. */
export const MAX_EASY_PASSES = 2;
/** The hard side re-sends from every socket this often, keeping its mappings alive. */
export const HARD_RESEND_MS = 1_000;

/** P(at least one of k distinct probes hits one of n open ports among N). */
export function birthdaySuccessProbability(n: number, k: number, portSpace: number): number {
  if (n <= 0 || k <= 0) return 0;
  if (n + k > portSpace) return 1;
  let miss = 1;
  for (let i = 0; i < k; i++) miss *= (portSpace - n - i) / (portSpace - i);
  return 1 - miss;
}

/** The smallest k with success probability ≥ target (Infinity if the space cannot give it). */
export function probesForProbability(n: number, target: number, portSpace: number): number {
  if (target <= 0) return 0;
  let miss = 1;
  for (let k = 1; k <= portSpace - n; k++) {
    miss *= (portSpace - n - (k - 1)) / (portSpace - (k - 1));
    if (1 - miss >= target) return k;
  }
  return Infinity;
}

export interface BirthdayPlanOptions {
  hardSockets?: number;
  budget?: number;
  paceMs?: number;
  timeLimitMs?: number;
  portRange?: readonly [number, number];
  /** Ports not to probe (e.g. the hard side's known STUN mapping). */
  exclude?: readonly number[];
  /** Uniform in [0, 1); injectable for repeatable plans. Default Math.random. */
  random?: () => number;
}

export interface BirthdayPlan {
  hardSockets: number;
  /** Distinct ports the easy side probes, in order. */
  probePorts: number[];
  paceMs: number;
  timeLimitMs: number;
  portSpace: number;
  /** P(success) for this plan if the hard side's ports are uniform in the range. */
  expectedSuccess: number;
  /** How long sending the whole budget takes at this pace. */
  sprayMs: number;
}

export function planBirthday(o: BirthdayPlanOptions = {}): BirthdayPlan {
  const n = o.hardSockets ?? DEFAULT_HARD_SOCKETS;
  const budget = o.budget ?? DEFAULT_PROBE_BUDGET;
  const [lo, hi] = o.portRange ?? DEFAULT_PORT_RANGE;
  if (!Number.isInteger(n) || n < 1 || n > MAX_HARD_SOCKETS) {
    throw new RangeError(`hardSockets must be 1..${MAX_HARD_SOCKETS}`);
  }
  if (!Number.isInteger(budget) || budget < 1 || budget > MAX_PROBE_BUDGET) {
    throw new RangeError(`budget must be 1..${MAX_PROBE_BUDGET}`);
  }
  if (!(lo >= 1 && hi <= 65535 && lo < hi)) throw new RangeError('bad port range');
  const portSpace = hi - lo + 1;
  const random = o.random ?? Math.random;
  const exclude = new Set(o.exclude ?? []);
  const chosen = new Set<number>();
  const k = Math.min(budget, portSpace - exclude.size);
  // Rejection sampling: k ≤ 16384 of ≥ 64k ports in practice, so few retries; the loop is
  // bounded anyway by falling back to a sweep when the space is nearly exhausted.
  let tries = 0;
  while (chosen.size < k && tries < k * 8) {
    tries++;
    const p = lo + Math.floor(random() * portSpace);
    if (!exclude.has(p)) chosen.add(p);
  }
  for (let p = lo; chosen.size < k && p <= hi; p++) if (!exclude.has(p)) chosen.add(p);
  const paceMs = o.paceMs ?? DEFAULT_PACE_MS;
  const probePorts = [...chosen];
  return {
    hardSockets: n,
    probePorts,
    paceMs,
    timeLimitMs: o.timeLimitMs ?? DEFAULT_TIME_LIMIT_MS,
    portSpace,
    expectedSuccess: birthdaySuccessProbability(n, probePorts.length, portSpace),
    sprayMs: Math.ceil(probePorts.length / PROBES_PER_TICK) * paceMs,
  };
}

export interface BirthdayResult {
  /** The socket that got through, and the remote endpoint it talks to. */
  socket: UdpSocket;
  remote: Endpoint;
  probesSent: number;
  elapsedMs: number;
}

const PROBE = new TextEncoder().encode('natpush-bday');
const ACK = new TextEncoder().encode('natpush-bday-ack');

function isProbe(d: Uint8Array, what: Uint8Array): boolean {
  return d.length === what.length && d.every((x, i) => x === what[i]);
}

interface Deps {
  net: UdpNetwork;
  clock: Clock;
}

/**
 * Hard side: opens `plan.hardSockets` sockets, sends from each to `easy` (re-sending every
 * HARD_RESEND_MS), and resolves with the first socket that hears a probe from `easy`'s address
 * (after answering it). Every other socket is closed; undefined after the time limit.
 */
export async function runHardSide(
  d: Deps,
  easy: Endpoint,
  plan: Pick<BirthdayPlan, 'hardSockets' | 'timeLimitMs'>,
  signal?: AbortSignal,
): Promise<BirthdayResult | undefined> {
  const t0 = d.clock.now();
  const sockets: UdpSocket[] = [];
  try {
    for (let i = 0; i < plan.hardSockets && !signal?.aborted; i++)
      sockets.push(await d.net.bindUdp());
  } catch {
    // Out of ports or descriptors: probe with the sockets we have (none: no attempt).
  }
  if (signal?.aborted || sockets.length === 0) {
    for (const s of sockets) void s.close();
    return undefined;
  }
  let sent = 0;
  return new Promise((resolve) => {
    let timer: TimerHandle | undefined;
    let done = false;
    const finish = (winner: UdpSocket | undefined, remote?: Endpoint): void => {
      if (done) return;
      done = true;
      timer?.cancel();
      limit.cancel();
      signal?.removeEventListener('abort', onAbort);
      for (const off of offs) off();
      for (const s of sockets) if (s !== winner) void s.close();
      resolve(
        winner && remote
          ? { socket: winner, remote, probesSent: sent, elapsedMs: d.clock.now() - t0 }
          : undefined,
      );
    };
    const offs = sockets.map((s) =>
      s.onMessage((data, from) => {
        if (from.address !== easy.address) return;
        // The easy side's probe got in: answer it. Or the easy side's ACK: its probe to this
        // port came before our mapping existed (dropped here, but it opened the easy NAT), our
        // next re-send got through, and the easy side answered that.
        if (isProbe(data, PROBE)) s.send(ACK, from);
        else if (!isProbe(data, ACK)) return;
        finish(s, from);
      }),
    );
    const spray = (): void => {
      for (const s of sockets) {
        s.send(PROBE, easy);
        sent++;
      }
      timer = d.clock.setTimeout(spray, HARD_RESEND_MS);
    };
    const limit = d.clock.setTimeout(() => finish(undefined), plan.timeLimitMs);
    const onAbort = (): void => finish(undefined);
    signal?.addEventListener('abort', onAbort, { once: true });
    spray();
  });
}

/**
 * Easy side: sends PROBE to `hardAddress` at each port of the plan, PROBES_PER_TICK every
 * `paceMs`, from `socket` (the one whose mapping the hard side sends to), then repeats the
 * list until the time limit. Resolves with the hard side's endpoint that answered (an ACK, or
 * a PROBE that got in because our probe opened the way), undefined after the time limit.
 */
export function runEasySide(
  d: { clock: Clock },
  socket: UdpSocket,
  hardAddress: string,
  plan: Pick<BirthdayPlan, 'probePorts' | 'paceMs' | 'timeLimitMs'>,
  signal?: AbortSignal,
): Promise<BirthdayResult | undefined> {
  const t0 = d.clock.now();
  let sent = 0;
  let i = 0;
  return new Promise((resolve) => {
    let timer: TimerHandle | undefined;
    let done = false;
    const finish = (remote?: Endpoint): void => {
      if (done) return;
      done = true;
      timer?.cancel();
      limit.cancel();
      signal?.removeEventListener('abort', onAbort);
      off();
      resolve(
        remote ? { socket, remote, probesSent: sent, elapsedMs: d.clock.now() - t0 } : undefined,
      );
    };
    const off = socket.onMessage((data, from) => {
      if (from.address !== hardAddress) return;
      if (isProbe(data, ACK)) return finish(from);
      // A hard-side probe got through our NAT: our probe to that port opened it. Answer so the
      // hard side learns the path too.
      if (isProbe(data, PROBE)) {
        socket.send(ACK, from);
        finish(from);
      }
    });
    const total = plan.probePorts.length * MAX_EASY_PASSES;
    const tick = (): void => {
      if (i >= total) return; // budget spent: wait for an answer until the time limit
      for (let b = 0; b < PROBES_PER_TICK && i < total; b++) {
        const port = plan.probePorts[i % plan.probePorts.length]!;
        i++;
        socket.send(PROBE, { address: hardAddress, port });
        sent++;
      }
      timer = d.clock.setTimeout(tick, plan.paceMs);
    };
    const limit = d.clock.setTimeout(() => finish(undefined), plan.timeLimitMs);
    const onAbort = (): void => finish(undefined);
    if (signal?.aborted) return finish(undefined);
    signal?.addEventListener('abort', onAbort, { once: true });
    tick();
  });
}
