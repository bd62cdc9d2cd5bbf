/**
 * A test peer for the cluster fault tests: a raw WebSocket client that logs in with a fixed
 * identity, acks every delivery at once, keeps an application-level record (deduped by
 * (from, id), as the real client does) and a wire-level one (every `deliver` frame), and sends
 * its own notifications with a bounded window — resending (same id) whatever was not yet
 * `accepted` when its connection broke or the server refused with a retryable error. When its
 * connection drops it reconnects to another node chosen by `pickNode`. `turnCredentials()` asks
 * the node it is connected to for TURN credentials (relay fleets: which relay they name).
 */
import WebSocket from 'ws';
import { WS_SUBPROTOCOL } from '../../../src/signaling/constants.js';
import { generateIdentity, signChallenge, type Identity } from '../../../src/signaling/identity.js';
import type { ServerMessage } from '../../../src/signaling/protocol.js';

export interface Outgoing {
  id: string;
  to: string;
  body: string;
}

export type TurnCreds = Extract<ServerMessage, { type: 'turn-credentials' }>;

export class ClusterPeer {
  readonly id: Identity = generateIdentity();
  ws: WebSocket | undefined;
  url = '';
  ready = false;
  closed = false;
  /** (from id) → times delivered on the wire. */
  readonly wire = new Map<string, number>();
  /** Application deliveries: each (from, id) once. */
  readonly app = new Set<string>();
  /** Ids this peer sent that the server accepted (WS `accepted`). */
  readonly accepted = new Set<string>();
  /** Ids answered `duplicate: false` more than once (a retry stored twice). */
  readonly storedTwice: string[] = [];
  readonly #freshOnce = new Set<string>();
  readonly #queue: Outgoing[] = [];
  readonly #inflight = new Map<string, Outgoing>();
  reconnects = 0;
  readonly #turn = new Map<
    string,
    { resolve: (c: TurnCreds) => void; reject: (e: Error) => void }
  >();
  #turnRefs = 0;
  onDeliver: (from: string, id: string) => void = () => {};

  constructor(
    readonly pickNode: (avoid: string) => string,
    readonly window = 8,
    /** Source address (127.x.y.z): serve allows 256 connections per client address. */
    readonly localAddress?: string,
  ) {}

  get pending(): number {
    return this.#queue.length + this.#inflight.size;
  }

  connect(url: string): Promise<void> {
    this.url = url;
    return new Promise((resolve) => {
      const ws = new WebSocket(
        url.replace(/^http/, 'ws') + '/v1/ws',
        WS_SUBPROTOCOL,
        this.localAddress ? { localAddress: this.localAddress } : {},
      );
      this.ws = ws;
      let done = false;
      const finish = () => {
        if (!done) {
          done = true;
          resolve();
        }
      };
      ws.on('open', () =>
        ws.send(
          JSON.stringify({
            type: 'hello',
            v: 1,
            peer: this.id.peerId,
            publicKey: this.id.publicKey,
          }),
        ),
      );
      ws.on('message', (d) => {
        const m = JSON.parse(d.toString()) as ServerMessage;
        if (m.type === 'welcome') {
          this.ready = true;
          finish();
          this.#pump();
        }
        this.#onFrame(ws, m);
      });
      ws.on('error', () => {});
      ws.on('close', () => {
        if (this.ws !== ws) return;
        this.ready = false;
        for (const t of this.#turn.values()) t.reject(new Error('connection closed'));
        this.#turn.clear();
        // Whatever was not accepted goes out again (same ids) on the next connection.
        for (const o of this.#inflight.values()) this.#queue.unshift(o);
        this.#inflight.clear();
        finish();
        if (this.closed) return;
        this.reconnects++;
        setTimeout(
          () => {
            if (!this.closed) void this.connect(this.pickNode(url));
          },
          50 + Math.random() * 100,
        );
      });
    });
  }

  /** TURN credentials from the node this peer is connected to (rejects if it disconnects). */
  turnCredentials(): Promise<TurnCreds> {
    if (!this.ready || !this.ws) return Promise.reject(new Error('not connected'));
    const ref = `t${this.#turnRefs++}`;
    const p = new Promise<TurnCreds>((resolve, reject) => this.#turn.set(ref, { resolve, reject }));
    this.ws.send(JSON.stringify({ type: 'turn-credentials', ref }));
    return p;
  }

  send(o: Outgoing): void {
    this.#queue.push(o);
    this.#pump();
  }

  close(): void {
    this.closed = true;
    this.ws?.terminate();
  }

  #onFrame(ws: WebSocket, m: ServerMessage): void {
    switch (m.type) {
      case 'challenge':
        ws.send(
          JSON.stringify({ type: 'auth', nonce: m.nonce, signature: signChallenge(this.id, m) }),
        );
        return;
      case 'deliver': {
        const key = `${m.n.from} ${m.n.id}`;
        this.wire.set(key, (this.wire.get(key) ?? 0) + 1);
        if (!this.app.has(key)) {
          this.app.add(key);
          this.onDeliver(m.n.from, m.n.id);
        }
        ws.send(JSON.stringify({ type: 'ack', ids: [m.n.id] }));
        return;
      }
      case 'accepted': {
        const o = this.#inflight.get(m.ref);
        if (!o) return;
        this.#inflight.delete(m.ref);
        this.accepted.add(o.id);
        if (!m.duplicate) {
          if (this.#freshOnce.has(o.id)) this.storedTwice.push(o.id);
          this.#freshOnce.add(o.id);
        }
        this.#pump();
        return;
      }
      case 'turn-credentials':
        this.#turn.get(m.ref)?.resolve(m);
        this.#turn.delete(m.ref);
        return;
      case 'error': {
        const t = m.ref ? this.#turn.get(m.ref) : undefined;
        if (t) {
          this.#turn.delete(m.ref!);
          t.reject(new Error(`${m.code}: ${m.message}`));
          return;
        }
        const o = m.ref ? this.#inflight.get(m.ref) : undefined;
        if (!o) return;
        // Retryable refusals (Redis away, a node shutting down): again a little later.
        this.#inflight.delete(m.ref!);
        setTimeout(() => this.send(o), 100);
        return;
      }
      default:
    }
  }

  #pump(): void {
    while (this.ready && this.#inflight.size < this.window && this.#queue.length > 0) {
      const o = this.#queue.shift()!;
      this.#inflight.set(o.id, o);
      this.ws!.send(
        JSON.stringify({ type: 'notify', ref: o.id, id: o.id, to: o.to, body: o.body }),
      );
    }
  }
}
