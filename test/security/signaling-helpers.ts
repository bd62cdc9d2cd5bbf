/**
 * Helpers of the signaling attack tests (a1-signaling): an SSE reader that parses the stream
 * exactly as a browser's EventSource would (WHATWG HTML §9.2.6), so an injected line shows up as
 * the event a victim's client would see.
 */

export interface SseEvent {
  event: string;
  data: string;
  id: string | undefined;
  /** Every field name seen in the event's lines (`retry` here means an injected retry). */
  fields: string[];
}

/** An open `text/event-stream`: events as they arrive, and the end of the stream. */
export class SseReader {
  events: SseEvent[] = [];
  ended = false;
  readonly done: Promise<void>;
  #waiters: (() => void)[] = [];
  readonly #abort = new AbortController();

  private constructor(
    readonly status: number,
    body: ReadableStream<Uint8Array> | null,
  ) {
    this.done = this.#read(body);
  }

  static async open(url: string): Promise<SseReader> {
    const ac = new AbortController();
    const r = await fetch(url, { signal: ac.signal, headers: { accept: 'text/event-stream' } });
    const s = new SseReader(r.status, r.body);
    s.#abort.signal.addEventListener('abort', () => ac.abort());
    return s;
  }

  close(): void {
    this.#abort.abort();
  }

  /**
   * Resolves once an event matching `pred` has arrived; rejects when the stream ends first, or
   * after `timeoutMs` (below the tier's test timeout), naming the events seen so far.
   */
  async waitFor(pred: (e: SseEvent) => boolean, timeoutMs = 20_000): Promise<SseEvent> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const e = this.events.find(pred);
      if (e) return e;
      if (this.ended) throw new Error(`SSE stream ended before the event arrived; ${this.#seen()}`);
      const left = until - Date.now();
      if (left <= 0)
        throw new Error(
          `no such SSE event within ${timeoutMs} ms (${String(pred)}); ${this.#seen()}`,
        );
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.#waiters.push(() => (clearTimeout(t), r()));
      });
    }
  }

  #seen(): string {
    const last = this.events.slice(-5).map((e) => `${e.event}: ${e.data.slice(0, 200)}`);
    return `${this.events.length} events seen${last.length ? `, last: ${last.join(' | ')}` : ''}`;
  }

  async #read(body: ReadableStream<Uint8Array> | null): Promise<void> {
    let buf = '';
    let cur: SseEvent = { event: 'message', data: '', id: undefined, fields: [] };
    let hasData = false;
    const dec = new TextDecoder();
    try {
      if (!body) return;
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
        buf += dec.decode(chunk, { stream: true });
        // §9.2.6: lines end with CRLF, LF or CR.
        for (;;) {
          const m = /\r\n|\r|\n/.exec(buf);
          if (!m) break;
          // A CR at the very end may be the first half of a CRLF: wait for more.
          if (m[0] === '\r' && m.index === buf.length - 1) break;
          const line = buf.slice(0, m.index);
          buf = buf.slice(m.index + m[0].length);
          if (line === '') {
            if (hasData) this.events.push({ ...cur, data: cur.data.replace(/\n$/, '') });
            cur = { event: 'message', data: '', id: undefined, fields: [] };
            hasData = false;
            this.#wake();
            continue;
          }
          if (line.startsWith(':')) continue;
          const i = line.indexOf(':');
          const field = i < 0 ? line : line.slice(0, i);
          let value = i < 0 ? '' : line.slice(i + 1);
          if (value.startsWith(' ')) value = value.slice(1);
          cur.fields.push(field);
          if (field === 'event') cur.event = value;
          else if (field === 'data') {
            cur.data += value + '\n';
            hasData = true;
          } else if (field === 'id' && !value.includes('\0')) cur.id = value;
        }
      }
    } catch {
      // aborted by close(), or the server cut the stream
    } finally {
      this.ended = true;
      this.#wake();
    }
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}

/** Rejects after `ms` with `what`, so a test that would hang fails with a message instead. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_r, reject) => {
      timer = setTimeout(() => reject(new Error(`not within ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
