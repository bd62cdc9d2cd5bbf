/**
 * The client side of Server-Sent Events (`GET /v1/events`): a pure, incremental parser of the
 * event stream format, WHATWG HTML §9.2.6 "Interpreting an event stream", as a browser's
 * EventSource runs it. Text in (already UTF-8-decoded, in chunks of any size), whole events out;
 * what the events mean is http-frames.ts's job, which sends them through the same validation as
 * a WebSocket frame.
 *
 * Bounded (STYLE.md §8): a line, or the data of one event, longer than `maxEventChars` is
 * FRAME_TOO_LARGE and the decoder refuses all further input — a server (or a proxy in between)
 * that never ends a line must not grow our buffer without end. serve's largest event is one
 * `deliver` of at most `LIMITS.maxFrameBytes`, so that is the default.
 */
import { LIMITS } from './constants.js';
import { SignalingError, SignalingErrorCode } from './errors.js';

export interface SseEvent {
  /** The `event:` field, or `message` when the event had none (§9.2.6 dispatch, step 5). */
  event: string;
  /** The `data:` lines joined with LF. */
  data: string;
  /** The `id:` field of this event itself, if it had one (for checks against its data). */
  id: string | undefined;
  /** The last event ID buffer as EventSource keeps it across events (for `Last-Event-ID`). */
  lastEventId: string;
}

/** A line ends with CRLF, LF or CR (§9.2.5 `end-of-line`). Global: scanned by `lastIndex`. */
const EOL = /\r\n|\r|\n/g;

export class SseDecoder {
  /** Text received but not yet a whole line. */
  #pending = '';
  #event = '';
  #data = '';
  #hasData = false;
  #id: string | undefined;
  #lastEventId = '';
  #started = false;
  #failed: SignalingError | undefined;
  /** The stream's `retry:` (reconnection time, ms), if it sent one. */
  retryMs: number | undefined;

  constructor(readonly maxEventChars: number = LIMITS.maxFrameBytes) {
    if (!Number.isInteger(maxEventChars) || maxEventChars < 1)
      throw new RangeError('maxEventChars must be a positive integer');
  }

  /** Feed the next chunk; returns the events it completed, in order. */
  push(chunk: string): SseEvent[] {
    if (this.#failed) throw this.#failed;
    let text = this.#pending + chunk;
    // §9.2.6: one leading U+FEFF BOM of the stream is ignored.
    if (!this.#started && text.length > 0) {
      this.#started = true;
      if (text.startsWith('\uFEFF')) text = text.slice(1);
    }
    const out: SseEvent[] = [];
    // Scan by index, not by slicing the rest off after each line: that copy made a chunk of
    // many short lines cost its length squared.
    let start = 0;
    EOL.lastIndex = 0;
    for (;;) {
      const m = EOL.exec(text);
      // A CR at the very end may be the first half of a CRLF: wait for the next chunk.
      if (!m || (m[0] === '\r' && m.index === text.length - 1)) break;
      this.#line(text.slice(start, m.index), out);
      start = m.index + m[0].length;
    }
    this.#pending = text.slice(start);
    if (this.#pending.length > this.maxEventChars) this.#fail('an SSE line');
    return out;
  }

  /** One line (§9.2.6 "process the field"). */
  #line(line: string, out: SseEvent[]): void {
    if (line === '') return this.#dispatch(out);
    if (line.startsWith(':')) return; // a comment (serve's keepalive)
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.#event = value;
        return;
      case 'data':
        this.#data += value + '\n';
        this.#hasData = true;
        if (this.#data.length > this.maxEventChars + 1) this.#fail('the data of an SSE event');
        return;
      case 'id':
        // An id with NUL is ignored (§9.2.6), so it can never reach a Last-Event-ID header.
        if (!value.includes('\0')) this.#id = this.#lastEventId = value;
        return;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.retryMs = Number(value);
        return;
      default:
        return; // other fields are ignored
    }
  }

  /** An empty line ends the event (§9.2.6 "dispatch the event"). */
  #dispatch(out: SseEvent[]): void {
    if (this.#hasData) {
      out.push({
        event: this.#event || 'message',
        data: this.#data.slice(0, -1),
        id: this.#id,
        lastEventId: this.#lastEventId,
      });
    }
    this.#event = '';
    this.#data = '';
    this.#hasData = false;
    this.#id = undefined;
  }

  #fail(what: string): never {
    this.#failed = new SignalingError(
      SignalingErrorCode.FRAME_TOO_LARGE,
      `${what} is longer than ${this.maxEventChars} characters`,
    );
    this.#pending = '';
    this.#data = '';
    throw this.#failed;
  }
}
