/**
 * libjuice through our TURN relay across real kernel NATs: two node-datachannel peers, each a
 * node process inside its own lab host behind a `symmetric` NAT (address-and-port-dependent
 * mapping and filtering, RFC 4787 — no direct path between them exists), with our relay on the
 * lab's internet server as their only ICE server and iceTransportPolicy "relay". Signaling goes
 * through this process. Since no direct path exists, the data-channel bytes can only have crossed
 * the relay (libdatachannel issue 1587 cannot apply), and the relay's counters must show them.
 */
import type { ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { within } from '../support/deadline.js';
import { Lab } from '../../netsim/index.js';
import { mintTurnCredentials } from '../../src/relay/credentials.js';
import { LAB_RELAY_PORT, spawnLabRelay } from '../support/lab-relay.js';
import { NETSIM_REQUIREMENTS, missingPrereq } from '../support/prereq.js';

const skip = missingPrereq('netsim', NETSIM_REQUIREMENTS);
const SECRET = 'netsim-libjuice-secret';
const PEER = fileURLToPath(new URL('../support/libjuice-peer.mjs', import.meta.url));
const MESSAGES = 200;
const SIZE = 1000;

type Msg = Record<string, unknown>;

/** Calls `on` for each JSON line of `stream`. */
function onLines(stream: NodeJS.ReadableStream, on: (m: Msg) => void): void {
  readline.createInterface({ input: stream }).on('line', (l) => {
    if (l.startsWith('{')) on(JSON.parse(l) as Msg);
  });
}

/**
 * Resolves with the first line matching `pred`; rejects after `ms` with `what` and the stream's
 * last lines (a peer or relay that stalls fails with where it stood, not the test timeout).
 */
function first(
  stream: NodeJS.ReadableStream,
  pred: (m: Msg) => boolean,
  what: string,
  ms: number,
): Promise<Msg> {
  const seen: string[] = [];
  readline.createInterface({ input: stream }).on('line', (l) => {
    seen.push(l.slice(0, 300));
    if (seen.length > 15) seen.shift();
  });
  return within(
    new Promise((resolve) => onLines(stream, (m) => pred(m) && resolve(m))),
    ms,
    what,
    () => `last lines:\n${seen.join('\n')}`,
  );
}

describe.skipIf(skip)(
  'node-datachannel (libjuice) via our relay, both peers behind symmetric NATs',
  () => {
    let lab: Lab | undefined;
    let relay: ChildProcess | undefined;
    const counters: Msg[] = [];

    beforeAll(async () => {
      lab = await Lab.create({
        nats: [
          { name: 'na', preset: 'symmetric' },
          { name: 'nb', preset: 'symmetric' },
        ],
        hosts: [
          { name: 'a', behind: 'na' },
          { name: 'b', behind: 'nb' },
        ],
      });
      relay = spawnLabRelay(lab, SECRET);
      onLines(relay.stderr!, (m) => {
        if (m.msg === 'turn relay counters') counters.push(m);
      });
      await first(
        relay.stderr!,
        (m) => m.msg === 'turn relay listening',
        'the relay to listen',
        30_000,
      );
    }, 60_000);

    afterAll(async () => {
      relay?.kill('SIGTERM');
      await lab?.destroy();
    });

    it('a data channel opens and carries 200 × 1000 B each way, all through the relay', async () => {
      const spawnPeer = (host: string, role: 'offer' | 'answer'): ChildProcess => {
        const creds = mintTurnCredentials(SECRET, host, 600);
        return lab!.spawn(
          host,
          process.execPath,
          [
            PEER,
            lab!.address('server'),
            String(LAB_RELAY_PORT),
            creds.username,
            creds.password,
            role,
            String(MESSAGES),
            String(SIZE),
          ],
          { stdio: ['pipe', 'pipe', 'inherit'] },
        );
      };
      const a = spawnPeer('a', 'offer');
      const b = spawnPeer('b', 'answer');
      const exits = [a, b].map((c) => new Promise<number | null>((r) => c.once('exit', r)));
      try {
        const candidates: string[] = [];
        // In-process signaling: descriptions and candidates go to the other peer's stdin.
        for (const [from, to] of [
          [a, b],
          [b, a],
        ] as const) {
          onLines(from.stdout!, (m) => {
            if (m.candidate) candidates.push((m.candidate as { candidate: string }).candidate);
            if (m.description || m.candidate) to.stdin!.write(JSON.stringify(m) + '\n');
          });
        }
        const [ra, rb] = await Promise.all(
          [a, b].map((c, i) =>
            first(
              c.stdout!,
              (m) => m.received !== undefined,
              `peer ${i === 0 ? 'a' : 'b'}'s "received" (data channel up, ${MESSAGES} messages in)`,
              35_000,
            ),
          ),
        );
        for (const r of [ra!, rb!]) {
          expect(r.received).toBe(MESSAGES);
          expect(r.inOrder).toBe(true);
          expect(r.pair).toMatchObject({ local: { type: 'relay' }, remote: { type: 'relay' } });
        }
        expect(candidates.length).toBeGreaterThan(0);
        for (const c of candidates) expect(c).toMatch(/ typ relay /);
        // The relay carried at least the payload, both directions, on two allocations.
        const volume = 2 * MESSAGES * SIZE;
        const before = counters.length;
        const until = Date.now() + 10_000;
        while (counters.length === before && Date.now() < until)
          await new Promise((r) => setTimeout(r, 200));
        expect(
          counters.length,
          'a "turn relay counters" line from the relay within 10 s',
        ).toBeGreaterThan(before);
        const c = counters.at(-1)!;
        expect(c.allocationsCreated).toBeGreaterThanOrEqual(2);
        expect(c.permissionsCreated).toBeGreaterThanOrEqual(2);
        expect(c.channelsBound).toBeGreaterThanOrEqual(2);
        expect(c.toPeerBytes).toBeGreaterThanOrEqual(volume);
        expect(c.toClientBytes).toBeGreaterThanOrEqual(volume);
      } finally {
        for (const c of [a, b]) {
          if (c.exitCode === null) c.stdin!.write('{"close":true}\n');
        }
        const codes = await Promise.race([
          Promise.all(exits),
          // Generous: closing a PeerConnection and exiting took seconds on a loaded machine.
          new Promise<null>((r) => setTimeout(() => r(null), 15_000)),
        ]);
        if (codes === null) for (const c of [a, b]) c.kill('SIGKILL');
        expect(codes).toEqual([0, 0]);
      }
    }, 90_000); // past its waits' deadlines (35 + 10 + 15 s)
  },
);
