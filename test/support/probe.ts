/**
 * Test-side driver of udp-probe.mjs: a probe process inside a netsim node, with sockets the test
 * binds, sends from, and reads from. Every wait is bounded; `undefined` means "nothing came".
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline';
import type { Lab } from '../../netsim/index.js';

const SCRIPT = fileURLToPath(new URL('./udp-probe.mjs', import.meta.url));

export interface Received {
  from: string;
  data: string;
}

interface Event {
  ev: string;
  sock?: string;
  id?: string;
  [k: string]: unknown;
}

export class Probe {
  readonly #child: ChildProcess;
  readonly #events: Event[] = [];
  readonly #waiters = new Set<() => void>();
  #n = 0;

  private constructor(child: ChildProcess) {
    this.#child = child;
    const rl = readline.createInterface({ input: child.stdout! });
    rl.on('line', (l) => {
      this.#events.push(JSON.parse(l) as Event);
      for (const w of [...this.#waiters]) w();
    });
  }

  static async start(lab: Lab, node: string): Promise<Probe> {
    const child = lab.spawn(node, process.execPath, [SCRIPT], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const p = new Probe(child);
    // Generous: a test may start tens of probes at once on a loaded 2-core machine.
    const ready = await p.#take((e) => e.ev === 'ready', 30_000);
    if (!ready) throw new Error(`probe in ${node} did not start within 30 s`);
    return p;
  }

  /** Waits for (and removes) the first event matching `pred`; undefined after `timeoutMs`. */
  #take(pred: (e: Event) => boolean, timeoutMs: number): Promise<Event | undefined> {
    return new Promise((resolve) => {
      const check = (): boolean => {
        const i = this.#events.findIndex(pred);
        if (i < 0) return false;
        const [e] = this.#events.splice(i, 1);
        resolve(e);
        return true;
      };
      if (check()) return;
      const w = (): void => {
        if (!check()) return;
        this.#waiters.delete(w);
        clearTimeout(t);
      };
      const t = setTimeout(() => {
        this.#waiters.delete(w);
        resolve(undefined);
      }, timeoutMs);
      this.#waiters.add(w);
    });
  }

  #send(m: Record<string, unknown>): void {
    this.#child.stdin!.write(JSON.stringify(m) + '\n');
  }

  /** Binds a UDP socket; returns its name and local port. */
  async bind(port = 0, address = '0.0.0.0'): Promise<{ sock: string; port: number }> {
    const sock = `s${this.#n++}`;
    this.#send({ op: 'bind', sock, port, address });
    const e = await this.#take(
      (x) => (x.ev === 'bound' || x.ev === 'error') && x.sock === sock,
      15_000,
    );
    if (e?.ev !== 'bound') throw new Error(`bind ${address}:${port} failed: ${JSON.stringify(e)}`);
    return { sock, port: e.port as number };
  }

  async tcpListen(port = 0): Promise<{ sock: string; port: number }> {
    const sock = `t${this.#n++}`;
    this.#send({ op: 'tcp-listen', sock, port });
    const e = await this.#take(
      (x) => (x.ev === 'bound' || x.ev === 'error') && x.sock === sock,
      15_000,
    );
    if (e?.ev !== 'bound') throw new Error(`tcp listen failed: ${JSON.stringify(e)}`);
    return { sock, port: e.port as number };
  }

  async tcpConnect(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
    const id = `c${this.#n++}`;
    this.#send({ op: 'tcp-connect', id, host, port, timeoutMs });
    const e = await this.#take((x) => x.ev === 'tcp' && x.id === id, timeoutMs + 5_000);
    return e?.ok === true;
  }

  send(sock: string, host: string, port: number, data = 'x'): void {
    this.#send({ op: 'send', sock, host, port, data });
  }

  /** Echo every datagram on `sock` back to its sender. */
  echo(sock: string): void {
    this.#send({ op: 'echo', sock });
  }

  /** The next datagram on `sock` (optionally one whose payload is `data`), or undefined. */
  async recv(sock: string, timeoutMs: number, data?: string): Promise<Received | undefined> {
    const e = await this.#take(
      (x) => x.ev === 'recv' && x.sock === sock && (data === undefined || x.data === data),
      timeoutMs,
    );
    return e ? { from: e.from as string, data: e.data as string } : undefined;
  }

  /** Forgets datagrams received so far on `sock`. */
  drain(sock: string): void {
    for (let i = this.#events.length - 1; i >= 0; i--) {
      const e = this.#events[i]!;
      if (e.ev === 'recv' && e.sock === sock) this.#events.splice(i, 1);
    }
  }

  /** Round trips to an echoing socket: `count` probes `intervalMs` apart. */
  async ping(
    sock: string,
    host: string,
    port: number,
    count: number,
    intervalMs = 10,
  ): Promise<{ rtts: number[]; lost: number }> {
    const id = `p${this.#n++}`;
    this.#send({ op: 'ping', id, sock, host, port, count, intervalMs, timeoutMs: 3_000 });
    // The probe answers 3 s after its last send; sending may fall behind count × interval.
    const e = await this.#take(
      (x) => x.ev === 'ping' && x.id === id,
      3 * count * intervalMs + 15_000,
    );
    if (!e) throw new Error('ping did not finish');
    return { rtts: e.rtts as number[], lost: e.lost as number };
  }

  close(): void {
    this.#child.stdin!.end();
    this.#child.kill('SIGKILL');
  }
}

/** One side of `punchTogether`: a probe's socket and the address it punches toward. */
export interface PunchSide {
  p: Probe;
  sock: string;
  /** `ip:port` to send to (the other side's server-observed mapping). */
  to: string;
}

/**
 * Both sides send `data` toward each other's `to` every `gapMs`, together, for at least `rounds`
 * rounds and then until each has heard the other or `forMs` passed; resolves with the first
 * datagram of `data` each side heard (undefined: none, after a last `lingerMs` for one in
 * flight). A punch completes only if each side's packets leave after the other's first one
 * did; the probe processes are driven over stdin and may be scheduled seconds apart on a loaded
 * 2-core machine, so a fixed number of punches (25 in 1 s) let a stalled side hear the other
 * only after its own punches had been dropped. Punching longer changes no outcome the NAT
 * rules decide: a symmetric side's mapping is still per destination, and nothing gets through a
 * port-restricted cone that has not sent to that very endpoint.
 */
export async function punchTogether(
  a: PunchSide,
  b: PunchSide,
  o: { data?: string; rounds?: number; gapMs?: number; forMs?: number; lingerMs?: number } = {},
): Promise<[Received | undefined, Received | undefined]> {
  const { data = 'punch', rounds = 25, gapMs = 40, forMs = 10_000, lingerMs = 1_500 } = o;
  const send = (s: PunchSide) => {
    const [ip, port] = s.to.split(':') as [string, string];
    s.p.send(s.sock, ip, Number(port), data);
  };
  const end = Date.now() + forMs;
  let atA: Received | undefined;
  let atB: Received | undefined;
  for (let k = 0; ; k++) {
    send(a);
    send(b);
    await new Promise((r) => setTimeout(r, gapMs));
    atA ??= await a.p.recv(a.sock, 0, data);
    atB ??= await b.p.recv(b.sock, 0, data);
    if (k + 1 >= rounds && ((atA && atB) || Date.now() >= end)) break;
  }
  [atA, atB] = await Promise.all([
    atA ?? a.p.recv(a.sock, lingerMs, data),
    atB ?? b.p.recv(b.sock, lingerMs, data),
  ]);
  return [atA, atB];
}
