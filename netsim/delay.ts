/**
 * Link delay: the iptables NFQUEUE target sends a link's packets to a queue, and nfq-delay.c
 * (compiled on first use into a cache directory) holds each one for its delay before accepting
 * it. tc netem is not in these kernels; nft's own `queue` statement is not either.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { MAX_HELD_PACKETS, SETUP_STEP_TIMEOUT_MS } from './constants.js';
import { NETSIM_ERR, NetsimError } from './errors.js';
import { checkDelayPrerequisites } from './prereq.js';
import { runOk } from './shell.js';

/** The queue number used in every namespace (queues are per network namespace). */
export const DELAY_QUEUE = 0;

/** The C source: next to this module when run from source, under ../../netsim when built. */
function sourcePath(): string {
  const candidates = [
    new URL('./nfq-delay.c', import.meta.url),
    new URL('../../netsim/nfq-delay.c', import.meta.url),
  ].map((u) => fileURLToPath(u));
  const found = candidates.find((p) => existsSync(p));
  if (!found)
    throw new NetsimError(
      NETSIM_ERR.MISSING_TOOL,
      `nfq-delay.c not found (looked in ${candidates.join(', ')})`,
    );
  return found;
}

const building = new Map<string, Promise<string>>();

/** Path of the compiled delay line, compiling it once per source version. */
export function delayBinary(cacheDir: string): Promise<string> {
  checkDelayPrerequisites();
  const src = sourcePath();
  const hash = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 16);
  const bin = join(cacheDir, `nfq-delay-${hash}`);
  if (existsSync(bin)) return Promise.resolve(bin);
  let p = building.get(bin);
  if (!p) {
    p = (async () => {
      mkdirSync(cacheDir, { recursive: true, mode: 0o755 });
      // Compile to a private name and rename: concurrent labs never run a half-written binary.
      const tmp = `${bin}.${process.pid}.tmp`;
      await runOk('compile nfq-delay', 'gcc', [
        '-O2',
        '-o',
        tmp,
        src,
        '-lnetfilter_queue',
        '-lnfnetlink',
      ]);
      renameSync(tmp, bin);
      return bin;
    })();
    building.set(bin, p);
    p.catch(() => building.delete(bin));
  }
  return p;
}

/** iptables commands (one per line, for `sh`) queueing both directions of `ifname`. */
export function delayRules(ifname: string): string[] {
  // --queue-bypass: if the delay line is not (yet, or any more) there, packets pass undelayed
  // rather than being dropped.
  const q = `-j NFQUEUE --queue-num ${DELAY_QUEUE} --queue-bypass`;
  return [
    `iptables -w -t mangle -A PREROUTING -i ${ifname} ${q}`,
    `iptables -w -t mangle -A POSTROUTING -o ${ifname} ${q}`,
  ];
}

/**
 * Starts the delay line inside `ns` and resolves once it is bound to its queue. `detached`
 * lets it outlive this process (labs made by the CLI's `up`).
 */
export function startDelayLine(
  bin: string,
  ns: string,
  delayMs: number,
  jitterMs: number,
  detached: boolean,
): Promise<ChildProcess> {
  const args = [
    'netns',
    'exec',
    ns,
    bin,
    String(DELAY_QUEUE),
    String(Math.round(delayMs * 1000)),
    String(Math.round(jitterMs * 1000)),
    String(MAX_HELD_PACKETS),
  ];
  const child = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], detached });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(
      () => fail(new Error('timed out waiting for "ready"')),
      SETUP_STEP_TIMEOUT_MS,
    );
    const fail = (e: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(
        new NetsimError(
          NETSIM_ERR.SETUP_FAILED,
          `delay line in ${ns}: ${e.message} ${err.trim()}`,
          { cause: e },
        ),
      );
    };
    child.on('error', fail);
    child.on('exit', (code) => fail(new Error(`exited ${code}`)));
    child.stderr?.on('data', (d: Buffer) => {
      if (err.length < 4096) err += d.toString();
    });
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (!out.includes('ready\n')) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.removeAllListeners('error');
      child.on('error', () => {});
      // Nothing more is read; do not let the pipes keep an event loop (or a CLI) alive.
      child.stdout?.destroy();
      child.stderr?.destroy();
      if (detached) child.unref();
      resolve(child);
    });
  });
}
