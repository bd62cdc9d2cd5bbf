/**
 * One load step of coturn's own generator: K `turnutils_uclient -y -c` processes in parallel
 * (client-to-client over channels, each session one message per `-z 1` ms), read live.
 *
 * One uclient paces its M sessions from one libevent loop; above ~100 sessions it falls behind
 * its schedule (it offers less than M × 1,000 msg/s) before any server does, so the bench adds
 * processes rather than sessions. Each progress line ("T: : start_mclient: msz=M,
 * tot_send_msgs=S, tot_recv_msgs=R") is stamped on arrival; a uclient is stopped once it has
 * sent everything and its received count stood still for a second — its own ending waits ~10 s
 * more, which would triple each step. The step's figures are taken then; the processes end on
 * their own meanwhile (deallocating), and `drained` resolves when they have (the bench waits
 * for it before the same server's next step, so allocations do not pile up).
 */
import { spawn } from 'node:child_process';
import { cpuSeconds } from './relay-servers.js';

export interface UclientStep {
  /** Sum over the processes at the end. */
  sent: number;
  received: number;
  /** msg/s while every process was sending (the steady window), offered and delivered. */
  sendRate: number;
  deliveredRate: number;
  /** The busiest uclient's CPU over its run, % of one core: near 100 = the generator is the
   *  ceiling, not the server. */
  uclientCpuPct: number;
  /** Every uclient of the step has exited (or was killed after DRAIN_TIMEOUT_MS). */
  drained: Promise<void>;
  /** The steady window (performance.now() times). */
  from: number;
  to: number;
  failed: string | undefined;
}

interface Sample {
  at: number;
  send: number;
  recv: number;
}

/** uclient's own ending (waiting for stragglers, then deallocating) takes ~10 s. */
const DRAIN_TIMEOUT_MS = 30_000;

const PROGRESS = /start_mclient: (?:msz=\d+, )?tot_send_msgs=(\d+), tot_recv_msgs=(\d+)/;

function runOne(
  args: string[],
  target: number,
  timeoutMs: number,
): Promise<{
  samples: Sample[];
  cpuPct: number;
  failed: string | undefined;
  exited: Promise<void>;
}> {
  return new Promise((resolve) => {
    // Line-buffered: uclient's stdout to a pipe is otherwise flushed only when it exits.
    const child = spawn('stdbuf', ['-oL', 'turnutils_uclient', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const samples: Sample[] = [];
    const t0 = performance.now();
    let out = '';
    let still = 0;
    let failed: string | undefined;
    let cpu = 0;
    let measured = false;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const done = (): void => {
      if (measured) return;
      measured = true;
      clearTimeout(timer);
      const last = samples.at(-1);
      if (!failed && (!last || last.send < target)) failed = `ended early: ${out.slice(-300)}`;
      const wall = (performance.now() - t0) / 1000;
      resolve({ samples, cpuPct: (cpu / wall) * 100, failed, exited });
      const kill = setTimeout(() => child.kill('SIGKILL'), DRAIN_TIMEOUT_MS);
      void exited.then(() => clearTimeout(kill));
    };
    const readCpu = (): void => {
      try {
        cpu = cpuSeconds(child.pid!); // stdbuf exec()s uclient: same pid
      } catch {
        // exited
      }
    };
    const onLine = (l: string): void => {
      const m = PROGRESS.exec(l);
      if (!m) return;
      const s = { at: performance.now(), send: Number(m[1]), recv: Number(m[2]) };
      const prev = samples.at(-1);
      samples.push(s);
      readCpu(); // each second: the last reading before it exits
      still = prev && s.send >= target && s.recv === prev.recv ? still + 1 : 0;
      if (still >= 1 || (s.send >= target && s.recv >= target)) done();
    };
    // uclient logs to stdout and stderr alike; a line may be split across chunks.
    for (const stream of [child.stdout, child.stderr]) {
      let partial = '';
      stream.on('data', (d: Buffer) => {
        out = (out + d.toString()).slice(-4000);
        const lines = (partial + d.toString()).split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines) onLine(l);
      });
    }
    const timer = setTimeout(() => {
      failed = `timed out after ${timeoutMs} ms`;
      child.kill('SIGKILL');
      done();
    }, timeoutMs);
    void exited.then(done);
  });
}

/** Rate of `pick` over [from, to] from a process's samples (last value at or before t). */
function at(samples: Sample[], t: number, pick: (s: Sample) => number): number {
  let v = 0;
  for (const s of samples) if (s.at <= t) v = pick(s);
  return v;
}

export async function uclientStep(o: {
  port: number;
  user: string;
  password: string;
  processes: number;
  sessionsEach: number;
  messages: number;
  size: number;
  timeoutMs: number;
}): Promise<UclientStep> {
  const args = [
    '-y',
    '-c',
    '-m',
    String(o.sessionsEach),
    '-n',
    String(o.messages),
    '-l',
    String(o.size),
    '-z',
    '1',
    '-u',
    o.user,
    '-w',
    o.password,
    '-p',
    String(o.port),
    '127.0.0.1',
  ];
  const target = o.sessionsEach * o.messages;
  const runs = await Promise.all(
    Array.from({ length: o.processes }, () => runOne(args, target, o.timeoutMs)),
  );
  const sent = runs.reduce((n, r) => n + (r.samples.at(-1)?.send ?? 0), 0);
  const received = runs.reduce((n, r) => n + (r.samples.at(-1)?.recv ?? 0), 0);
  // The steady window: from the last process's first sending second to the first process's
  // last sending second (all of them offering load at once).
  const starts = runs.map((r) => r.samples.find((s) => s.send > 0)?.at ?? Infinity);
  const ends = runs.map((r) => r.samples.find((s) => s.send >= target)?.at ?? -Infinity);
  let from = Math.max(...starts);
  let to = Math.min(...ends);
  if (!(to - from >= 1000)) {
    // Too short to be steady (or a process failed): the whole span.
    from = Math.min(...starts);
    to = Math.max(...ends);
  }
  const total = (t: number, pick: (s: Sample) => number): number =>
    runs.reduce((n, r) => n + at(r.samples, t, pick), 0);
  const seconds = (to - from) / 1000;
  const rate = (pick: (s: Sample) => number): number =>
    seconds > 0 ? (total(to, pick) - total(from, pick)) / seconds : NaN;
  return {
    sent,
    received,
    sendRate: rate((s) => s.send),
    deliveredRate: rate((s) => s.recv),
    uclientCpuPct: Math.max(...runs.map((r) => r.cpuPct)),
    from,
    to,
    failed: runs.find((r) => r.failed)?.failed,
    drained: Promise.all(runs.map((r) => r.exited)).then(() => undefined),
  };
}
