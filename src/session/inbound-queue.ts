/**
 * Keeps a ReliableChannel from handling a datagram from inside its own send.
 *
 * A synchronous path (in-process transports, a MemoryNetwork that delivers at once, two sessions
 * wired to each other's `handle`) re-enters the channel: our send → the peer handles it → its
 * ack goes out → our `handle` → our ack processing → our next send, all on one stack. Handled
 * there, the nested datagram mutates the sender, the receiver and the datagram being filled while
 * the outer event is half-way through them, and the nesting has no bound: a flood is one long
 * chain of send → ack → send, so the stack grows with every round trip until V8 throws
 * `RangeError: Maximum call stack size exceeded` at an arbitrary point — caught by some
 * SecureSession's transmit (a throwing path is logged, not fatal), so the state is left torn:
 * a packet buffered at the expected pn and never delivered (its SACK lets the sender move its
 * base past it, the receiver then skips ahead: acked, never delivered), a frame counted in the
 * datagram but half written (a protocol error at the peer), a packet in flight never sent.
 *
 * So a payload that arrives while the channel is handling one or is inside its own send waits
 * here and is handled, in arrival order, when that event is over: by the loop of the outermost
 * `receive` if there is one, else on a microtask (the send came from a timer, a pump or the app).
 * The stack then holds at most one datagram's round trip. Bounded: MAX_DEFERRED payloads (a peer
 * answers one datagram with a few); beyond that they are dropped, as a lossy path would (the
 * sender retransmits).
 */

/** Payloads held while the channel is busy; a synchronous peer answers one datagram with a few. */
export const MAX_DEFERRED = 1024;

export class InboundQueue {
  readonly #handle: (payload: Uint8Array) => void;
  readonly #isClosed: () => boolean;
  readonly #onDrop: () => void;
  readonly #queue: Uint8Array[] = [];
  /** Inside `#drain` (handling payloads). */
  #handling = false;
  /** Sends in progress (`sendBegin` … `sendEnd`; nested on a synchronous path). */
  #sending = 0;
  #scheduled = false;

  constructor(o: {
    handle: (payload: Uint8Array) => void;
    closed: () => boolean;
    onDrop: () => void;
  }) {
    this.#handle = o.handle;
    this.#isClosed = o.closed;
    this.#onDrop = o.onDrop;
  }

  /** A payload from the session: handled now, or after the event under way. */
  receive(payload: Uint8Array): void {
    if (this.#isClosed()) return;
    if (this.#queue.length >= MAX_DEFERRED) return this.#onDrop();
    this.#queue.push(payload);
    if (this.#handling) return; // the outer drain loop takes it
    if (this.#sending > 0) return this.#schedule();
    this.#drain();
  }

  /**
   * The channel is about to send (`sendEnd` after it, in a `finally`): payloads arriving until
   * then wait. A pair of calls rather than a callback: no closure per datagram.
   */
  sendBegin(): void {
    this.#sending++;
  }

  sendEnd(): void {
    this.#sending--;
  }

  clear(): void {
    this.#queue.length = 0;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      if (!this.#handling && this.#sending === 0) this.#drain();
    });
  }

  #drain(): void {
    this.#handling = true;
    try {
      // One at a time, in order; what the handling of one brings back joins the end.
      for (let p = this.#queue.shift(); p; p = this.#queue.shift()) {
        if (this.#isClosed()) return this.clear();
        this.#handle(p);
      }
    } finally {
      this.#handling = false;
      // Left by a throw (none is expected: the handler catches what the app and peer can cause).
      if (this.#queue.length > 0) this.#schedule();
    }
  }
}
