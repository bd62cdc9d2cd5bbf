import type { Endpoint, ErrorListener, MessageListener } from './udp.js';

/**
 * The listener bookkeeping every `UdpSocket` implementation shares. Arrays are replaced, not
 * mutated, so a listener that unsubscribes while being called does not skip its neighbour.
 */
export class SocketListeners {
  #message: MessageListener[] = [];
  #error: ErrorListener[] = [];

  onMessage(listener: MessageListener): () => void {
    this.#message = [...this.#message, listener];
    return () => {
      this.#message = this.#message.filter((l) => l !== listener);
    };
  }

  onError(listener: ErrorListener): () => void {
    this.#error = [...this.#error, listener];
    return () => {
      this.#error = this.#error.filter((l) => l !== listener);
    };
  }

  /** Call every message listener; one that throws is reported as an error, not propagated. */
  message(data: Uint8Array, from: Endpoint): void {
    const ls = this.#message;
    for (let i = 0; i < ls.length; i++) {
      try {
        ls[i]!(data, from);
      } catch (err) {
        this.error(err instanceof Error ? err : new Error(String(err)));
      }
    }
  }

  error(err: Error): void {
    for (const l of this.#error) l(err);
  }
}
