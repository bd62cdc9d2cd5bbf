/**
 * A logged-in peer that speaks signaling frames by hand, for the checks the fuzz and flood tiers
 * run against a real server: its contact list (`allow`), TURN credentials, and rendezvous frames
 * (`candidates`) exactly as the protocol has them (src/signaling/protocol.ts), whatever the
 * `Peer` library does with its own contact list.
 *
 * Two connections' frames have no order at the server, so `allow` resolves only when a `pong`
 * sent after it on the same connection came back: only then may the other side send its
 * `candidates`, which the server forwards only to a peer that allows the sender (presence.ts).
 */
import type WebSocket from 'ws';
import { generateIdentity, type Identity } from '../../src/signaling/identity.js';
import type { ClientMessage, ServerMessage } from '../../src/signaling/protocol.js';
import { loginWs } from './fuzz-login.js';

type Of<T extends ServerMessage['type']> = Extract<ServerMessage, { type: T }>;

interface Waiter {
  pred: (m: ServerMessage) => boolean;
  resolve: (m: ServerMessage) => void;
}

/** A check must end: a frame that never comes is reported, not waited for forever. */
const FRAME_TIMEOUT_MS = 10_000;

export class RawPeer {
  readonly #frames: ServerMessage[] = [];
  readonly #waiters = new Set<Waiter>();
  #refs = 0;

  private constructor(
    readonly id: Identity,
    readonly ws: WebSocket,
  ) {
    ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as ServerMessage;
      for (const w of this.#waiters) {
        if (!w.pred(m)) continue;
        this.#waiters.delete(w);
        w.resolve(m);
        return;
      }
      this.#frames.push(m);
    });
  }

  /** Log in with a fresh key (open registration). */
  static async login(url: string): Promise<RawPeer> {
    const id = generateIdentity();
    return new RawPeer(id, await loginWs(url, id));
  }

  send(m: ClientMessage): void {
    this.ws.send(JSON.stringify(m));
  }

  /** The next frame of `type` matching `pred` (already received or to come), or a rejection. */
  next<T extends ServerMessage['type']>(
    type: T,
    pred: (m: Of<T>) => boolean = () => true,
  ): Promise<Of<T>> {
    const p = (m: ServerMessage) => m.type === type && pred(m as Of<T>);
    const i = this.#frames.findIndex(p);
    if (i >= 0) return Promise.resolve(this.#frames.splice(i, 1)[0] as Of<T>);
    return new Promise<Of<T>>((resolve, reject) => {
      const w: Waiter = {
        pred: p,
        resolve: (m) => {
          clearTimeout(t);
          resolve(m as Of<T>);
        },
      };
      const t = setTimeout(() => {
        this.#waiters.delete(w);
        reject(new Error(`${this.id.peerId}: no ${type} frame within ${FRAME_TIMEOUT_MS} ms`));
      }, FRAME_TIMEOUT_MS);
      this.#waiters.add(w);
    });
  }

  /** Replace the contact list; resolves once the server has applied it (a pong after it). */
  async allow(peers: readonly string[], anyone = false): Promise<void> {
    this.send({ type: 'allow', peers: [...peers], anyone });
    const t = ++this.#refs;
    this.send({ type: 'ping', t });
    await this.next('pong', (m) => m.t === t);
  }

  async turnCredentials(): Promise<Of<'turn-credentials'>> {
    const ref = `turn-${++this.#refs}`;
    this.send({ type: 'turn-credentials', ref });
    return this.next('turn-credentials', (m) => m.ref === ref);
  }

  close(): void {
    this.ws.terminate();
  }
}
