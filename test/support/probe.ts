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
    const ready = await p.#take((e) => e.ev === 'ready', 10_000);
    if (!ready) throw new Error(`probe in ${node} did not start`);
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
      5_000,
    );
    if (e?.ev !== 'bound') throw new Error(`bind ${address}:${port} failed: ${JSON.stringify(e)}`);
    return { sock, port: e.port as number };
  }

  async tcpListen(port = 0): Promise<{ sock: string; port: number }> {
    const sock = `t${this.#n++}`;
    this.#send({ op: 'tcp-listen', sock, port });
    const e = await this.#take(
      (x) => (x.ev === 'bound' || x.ev === 'error') && x.sock === sock,
      5_000,
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
