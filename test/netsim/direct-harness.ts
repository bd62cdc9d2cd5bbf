/**
 * Shared by the direct-path netsim tests: our TURN relay (which also answers STUN Binding) on the
 * lab's server, and this test process as serve's rendezvous — the REAL `Presence` of the
 * signaling server forwards `candidates` and schedules `punch-start`, over the stdio of peer
 * processes (direct-peer.mjs) that run in their lab namespaces.
 */
import type { ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Lab } from '../../netsim/index.js';
import { mintTurnCredentials } from '../../src/relay/credentials.js';
import { Metrics, signalingMetrics } from '../../src/signaling/metrics.js';
import { Presence, type ControlChannel } from '../../src/signaling/presence.js';
import type { ServerMessage } from '../../src/signaling/protocol.js';
import { systemClock } from '../../src/util/clock.js';
import { LAB_RELAY_PORT, spawnLabRelay } from '../support/lab-relay.js';

const SECRET = 'netsim-punch-secret';
const DIST = fileURLToPath(new URL('../../dist', import.meta.url));
const PEER = fileURLToPath(new URL('./direct-peer.mjs', import.meta.url));

/** How long `next` waits for a line: far above a punch and a burst on a loaded machine. */
const NEXT_MS = 60_000;

export interface PeerProcess {
  child: ChildProcess;
  /**
   * The next line carrying `key` (in order; an `error` line rejects, and so do the process's
   * exit and NEXT_MS without one, saying what was awaited and the lines seen last).
   */
  next(key: string): Promise<Record<string, unknown>>;
  send(m: Record<string, unknown>): void;
}

/** Start the relay on the lab's server and wait until it listens. */
export async function startLabRelay(lab: Lab): Promise<ChildProcess> {
  const relay = spawnLabRelay(lab, SECRET);
  await new Promise<void>((resolve, reject) => {
    readline.createInterface({ input: relay.stderr! }).on('line', (l) => {
      if (/turn relay listening/.test(l)) resolve();
    });
    relay.once('exit', (code) => reject(new Error(`relay exited ${code}`)));
  });
  return relay;
}

export class Rendezvous {
  readonly presence = new Presence({
    metrics: signalingMetrics(new Metrics()),
    clock: systemClock,
    punchLeadMs: 250,
  });

  constructor(readonly lab: Lab) {}

  /** Spawn a peer in `host`'s namespace, registered with serve's presence as peer `host`. */
  peer(host: string, o: { hideHost?: boolean } = {}): PeerProcess {
    const lab = this.lab;
    const presence = this.presence;
    const creds = mintTurnCredentials(SECRET, host, 600);
    const server = `${lab.address('server')}:${LAB_RELAY_PORT}`;
    const args = [PEER, DIST, server, creds.username, creds.password, String(creds.expiresAt)];
    args.push(o.hideHost ? '1' : '0');
    const child = lab.spawn(host, process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    const queue: Record<string, unknown>[] = [];
    const waiters: (() => void)[] = [];
    /** The last lines of stdout (protocol frames included), for a wait's failure message. */
    const tail: string[] = [];
    let exit: string | undefined;
    let closed = false;
    const send = (m: Record<string, unknown>): void => {
      if (child.stdin?.writable) child.stdin.write(JSON.stringify(m) + '\n');
    };
    const channel: ControlChannel = {
      peer: host,
      publicKey: '',
      rttMs: 0,
      control(m: ServerMessage) {
        send({ signal: m });
        return true;
      },
    };
    presence.addChannel(channel);
    // The `allow` frame: serve forwards rendezvous frames only to peers that allow the sender.
    presence.allow(channel, [], true);
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      tail.push(line.length > 300 ? `${line.slice(0, 300)}…` : line);
      if (tail.length > 12) tail.shift();
      const m = JSON.parse(line) as Record<string, unknown>;
      const f = m.signal as { type: string; to: string; rid: string } | undefined;
      if (f?.type === 'punch') presence.punch(channel, f.to, f.rid);
      else if (f) {
        const { to, ...rest } = f;
        presence.forward(host, to, { ...rest, from: host } as ServerMessage);
      } else {
        queue.push(m);
        for (const w of waiters.splice(0)) w();
      }
    });
    child.once('exit', (code, signal) => {
      presence.removeChannel(channel);
      exit = signal ?? `code ${String(code)}`;
    });
    // 'close': the output was read to the end, so what is still awaited will not come.
    child.once('close', () => {
      closed = true;
      for (const w of waiters.splice(0)) w();
    });
    return {
      child,
      send,
      async next(key) {
        const end = Date.now() + NEXT_MS;
        for (;;) {
          const i = queue.findIndex((m) => key in m || 'error' in m);
          if (i >= 0) {
            const m = queue.splice(i, 1)[0]!;
            if ('error' in m) throw new Error(`${host}: ${String(m.error)}`);
            return m;
          }
          const left = end - Date.now();
          if (closed || left <= 0) {
            const why = closed ? `exited (${String(exit)})` : `nothing in ${NEXT_MS} ms`;
            throw new Error(
              `${host}: ${why} while waiting for "${key}"; last lines:\n${tail.join('\n')}`,
            );
          }
          await new Promise<void>((r) => {
            const t = setTimeout(r, left);
            waiters.push(() => (clearTimeout(t), r()));
          });
        }
      },
    };
  }
}

/** UDP flows in `nat`'s conntrack table toward `address` that saw a reply (NETSIM-NOTES). */
export async function repliedFlows(lab: Lab, nat: string, address: string): Promise<string[]> {
  const r = await lab.exec(nat, 'conntrack', ['-L', '-p', 'udp']);
  return r.stdout
    .split('\n')
    .filter((l) => l.includes(`dst=${address} `) && !l.includes('[UNREPLIED]'));
}
