/**
 * The honest traffic that must survive a fuzz or flood run: two real `Peer`s (the public library
 * client) on WebSocket; A notifies B with its own ids at a steady pace while the attack runs, B
 * consumes them (acks). Afterwards every id A sent must have reached B's application exactly once
 * (the wire may repeat, `Peer` dedupes) and nothing with A's name that A did not send.
 */
import { Peer } from '../../src/peer/peer.js';
import { generateIdentity } from '../../src/signaling/identity.js';

export interface HonestReport {
  sent: number;
  received: number;
  /** Ids B's application saw more than once (must be empty). */
  duplicates: string[];
  /** Ids A sent that B never saw (must be empty). */
  missing: string[];
  /** Notifications "from A" that A never sent (must be empty). */
  forged: string[];
  /** notify() rejections (the server refused an honest notification). */
  notifyErrors: string[];
  /** Slowest notify() round trip (ms). */
  maxLatencyMs: number;
}

export class HonestPair {
  #stop = false;
  #loop: Promise<void> | undefined;
  #sent: string[] = [];
  #seen = new Map<string, number>();
  #forged: string[] = [];
  #errors: string[] = [];
  #maxLatency = 0;
  #reader: Promise<void> | undefined;
  #wake: (() => void) | undefined;

  private constructor(
    readonly a: Peer,
    readonly b: Peer,
  ) {}

  static async start(url: string): Promise<HonestPair> {
    const a = await Peer.connect({ server: url, identity: generateIdentity() });
    const b = await Peer.connect({ server: url, identity: generateIdentity() });
    const p = new HonestPair(a, b);
    p.#reader = p.#read();
    return p;
  }

  get receiverId(): string {
    return this.b.id;
  }

  async #read(): Promise<void> {
    try {
      for await (const n of this.b.notifications()) {
        if (n.from !== this.a.id) continue; // fuzz inputs may address B too
        if (!this.#sent.includes(n.id)) this.#forged.push(n.id);
        this.#seen.set(n.id, (this.#seen.get(n.id) ?? 0) + 1);
        this.#wake?.();
      }
    } catch {
      // B closed.
    }
  }

  /** Send one notification every `intervalMs` until `finish()`. */
  run(intervalMs = 20): void {
    this.#loop = (async () => {
      for (let i = 0; !this.#stop; i++) {
        const id = `honest-${i}`;
        this.#sent.push(id);
        const t0 = performance.now();
        try {
          await this.a.notify(this.b.id, `honest body ${i}`, { id, deliveryTimeoutMs: 0 });
        } catch (err) {
          this.#errors.push(`${id}: ${String(err)}`);
        }
        this.#maxLatency = Math.max(this.#maxLatency, performance.now() - t0);
        await new Promise((r) => setTimeout(r, intervalMs));
      }
    })();
  }

  /** Stop sending, wait up to `waitMs` for B to have everything, close both, report. */
  async finish(waitMs = 20_000): Promise<HonestReport> {
    this.#stop = true;
    await this.#loop;
    const deadline = Date.now() + waitMs;
    while (this.#sent.some((id) => !this.#seen.has(id)) && Date.now() < deadline) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, 200);
        this.#wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
    await this.a.close();
    await this.b.close();
    await this.#reader;
    return {
      sent: this.#sent.length,
      received: this.#seen.size,
      duplicates: [...this.#seen].filter(([, n]) => n > 1).map(([id]) => id),
      missing: this.#sent.filter((id) => !this.#seen.has(id)),
      forged: this.#forged,
      notifyErrors: this.#errors,
      maxLatencyMs: Math.round(this.#maxLatency),
    };
  }
}
