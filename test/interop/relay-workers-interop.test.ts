/**
 * Standard clients nobody here wrote, through `natpush relay --workers 2` in its default
 * reuseport mode (both workers on the one port, no ALTERNATE-SERVER): they use the whole server
 * as they would one process (issue 10).
 *
 *  - coturn's turnutils_uclient over TCP (RFC 8656 §3.1 framing; node:cluster hands each
 *    connection to a worker): no loss. Its UDP run is in relay-workers.test.ts.
 *  - node-datachannel (libdatachannel + libjuice, a WebRTC stack) with the relay as its only ICE
 *    server, policy "relay": a data channel both ways, every byte through the workers (their
 *    summed /metrics). Its two allocations come from two source ports, hashed to workers each on
 *    its own. The pair runs in a child (test/support/libjuice-pair.mjs: libdatachannel can
 *    deadlock), each attempt on a fresh relay, as in relay-libjuice.test.ts (which says why an
 *    attempt is retried: libdatachannel issue 1587).
 *
 * The workers run on this Node when it can share the port (the udp_mmsg addon, any Node; dgram's
 * reusePort on Node >= 22.12), else on Node 24.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { runUclient } from '../../bench/lib/coturn.js';
import { hasReusePort } from '../../src/server/workers/runtime.js';
import { node24OrSkip } from '../support/node24.js';
import { missingPrereq } from '../support/prereq.js';
import { startRelayWorkers, type RelayWorkers } from '../support/relay-workers.js';
import { mmsgOrSkip } from '../unit/net/mmsg-support.js';

const HERE = hasReusePort() || mmsgOrSkip();
const NODE = HERE ? process.execPath : node24OrSkip();
const RUNTIME = HERE ? process.version : 'Node 24';
const USER = 'w:pw';
// The libjuice pair: messages each way, their size.
const MESSAGES = 200;
const SIZE = 1000;
const PAIR = fileURLToPath(new URL('../support/libjuice-pair.mjs', import.meta.url));
/** One attempt's deadline (about 1 s when it works). */
const ATTEMPT_MS = 30_000;
const ATTEMPTS = 4;

const relays: RelayWorkers[] = [];
const children: ReturnType<typeof spawn>[] = [];
afterEach(async () => {
  for (const c of children.splice(0))
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.allSettled(relays.splice(0).map((r) => r.stop()));
}, 60_000);

async function relay(extra: string[]): Promise<RelayWorkers> {
  const r = await startRelayWorkers(
    USER,
    ['--user-quota', '1000', '--ip-quota', '1000', ...extra],
    {
      node: NODE!,
      mode: 'reuseport',
    },
  );
  relays.push(r);
  return r;
}

const noUclient = missingPrereq('interop (coturn)', {
  commands: { turnutils_uclient: 'coturn' },
});

describe.skipIf(!NODE)(
  `standard clients → natpush relay --workers 2 (reuseport, ${RUNTIME})`,
  () => {
    it.skipIf(noUclient)(
      'turnutils_uclient over TCP, 4 client-to-client sessions: no loss',
      async () => {
        const r = await relay([]);
        const u = await runUclient(
          [
            '-t',
            '-y',
            '-m',
            '4',
            '-n',
            '100',
            '-l',
            '170',
            '-u',
            'w',
            '-w',
            'pw',
            '-p',
            String(r.port),
            '127.0.0.1',
          ],
          40_000,
        );
        expect(u.sent, u.output.slice(-2000)).toBeGreaterThanOrEqual(400);
        expect(u.received).toBe(u.sent);
        expect(u.lost).toBe(0);
      },
      90_000,
    );

    it(
      'libjuice (node-datachannel): a data channel both ways, every byte through the workers',
      async () => {
        const tries: string[] = [];
        for (let i = 1; i <= ATTEMPTS; i++) {
          // Relayed addresses on 127.0.0.2, the peers' sockets on 127.0.0.1 (relay-libjuice.test.ts:
          // a permission is per IP, libdatachannel issue 1587).
          const r = await relay(['--relay-address', '127.0.0.2', '--metrics-port', '0']);
          const a = await attempt(r.port);
          if ('retry' in a) {
            tries.push(a.retry);
            process.stderr.write(`relay-workers libjuice: attempt ${i}: ${a.retry}; again\n`);
            await relays.pop()!.stop();
            continue;
          }
          const res = a.result;
          expect(res.received.b).toEqual([...Array(MESSAGES).keys()]);
          expect(res.received.a).toEqual([...Array(MESSAGES).keys()]);
          for (const c of [...res.candidates.a, ...res.candidates.b])
            expect(c).toMatch(/ typ relay/);
          for (const side of ['a', 'b'] as const) {
            expect(res.pairs[side]).toEqual({ local: 'relay', remote: 'relay' });
          }
          // Each direction enters as client→peer on one allocation and leaves as peer→client on the
          // other: both counters, summed over the workers, carry at least both directions' volume.
          const url = /"turn relay metrics","url":"([^"]+)"/.exec(r.lines.join('\n'))?.[1];
          const text = await (await fetch(url!)).text();
          const value = (name: string): number =>
            Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
          const volume = 2 * MESSAGES * SIZE;
          expect(value('natpush_relay_bytes_total{direction="to_peer"}')).toBeGreaterThanOrEqual(
            volume,
          );
          expect(value('natpush_relay_bytes_total{direction="to_client"}')).toBeGreaterThanOrEqual(
            volume,
          );
          return;
        }
        throw new Error(`no attempt of ${ATTEMPTS} went through the relay:\n${tries.join('\n')}`);
      },
      ATTEMPTS * (ATTEMPT_MS + 20_000) + 30_000,
    );
  },
);

interface PairResult {
  received: { a: number[]; b: number[] };
  candidates: { a: string[]; b: string[] };
  pairs: Record<'a' | 'b', { local?: string; remote?: string }>;
}

/** One run of the pair against the relay on `port`: its result, or why to try again. */
function attempt(port: number): Promise<{ result: PairResult } | { retry: string }> {
  const child = spawn(
    process.execPath,
    [PAIR, String(port), 'w', 'pw', 'w', 'pw', String(MESSAGES), String(SIZE)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  const stages: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  return new Promise((resolve) => {
    const finish = (a: { result: PairResult } | { retry: string }): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve(a);
    };
    const stalled = (why: string): void =>
      finish({ retry: `${why}; stages: ${stages.slice(-12).join(' | ')}; stderr: ${stderr}` });
    const timer = setTimeout(() => stalled(`no result in ${ATTEMPT_MS} ms`), ATTEMPT_MS);
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const m = JSON.parse(buf.slice(0, nl)) as {
          stage?: string;
          direct?: string;
          result?: PairResult;
        };
        buf = buf.slice(nl + 1);
        if (m.stage) stages.push(m.stage);
        if (m.direct) finish({ retry: `libjuice chose ${m.direct}` });
        if (m.result) finish({ result: m.result });
      }
    });
    child.once('exit', (code, signal) =>
      stalled(`child exited (${code ?? signal}) without a result`),
    );
  });
}
