/**
 * A UDP socket that receives and sends in batches (Linux recvmmsg/sendmmsg through the udp_mmsg
 * addon, native/udp-mmsg): one wake-up, one syscall and one JS call per batch of up to `slots`
 * datagrams instead of per datagram, the way coturn reads (issue 10: node:dgram's per-datagram
 * path and the kernel were ~80 % of `natpush stun`'s time).
 *
 * ```ts
 * const s = MmsgSocket.open({ address: '0.0.0.0', port: 3478 }, (batch) => {
 *   for (let i = 0; i < batch.count; i++) {
 *     if (batch.truncated(i)) continue;               // longer than slotBytes: counted, dropped
 *     s.queue(answer(batch.data(i)), batch.endpoint(i)); // copied into the send buffer
 *   }
 *   s.flush();                                          // one sendmmsg for the batch
 * });
 * ```
 *
 * `batch.data(i)` is a view of the shared receive buffer, valid until the handler returns (the
 * next batch overwrites it): copy what you keep. Sends never block: when the kernel's buffer is
 * full the rest of a flush is dropped and counted (`stats.sendDropped`), as a full queue drops a
 * datagram anywhere on the path; other refusals are counted in `stats.sendErrors`.
 *
 * Memory per socket: slots × slotBytes received (64 × 4 KiB = 256 KiB; none with shared
 * `receive` buffers), SEND_BYTES queued, and the kernel buffers (`bufferBytes`, capped by
 * net.core.[rw]mem_max).
 */
import { isIP } from 'node:net';
import type { Endpoint } from './udp.js';
import { checkPort } from './udp.js';
import type { MmsgBinding } from './mmsg-binding.js';
import {
  FLAG_TRUNCATED,
  META_WORDS,
  Meta,
  Stat,
  STAT_COUNT,
  mmsgBinding,
  mmsgUnavailable,
} from './mmsg-binding.js';

export const MMSG_DEFAULTS = {
  /** Datagrams per recvmmsg/sendmmsg: 64 is coturn's and the load generator's batch, and a
   *  batch's answers (64 × ~100 bytes) stay in L1. */
  slots: 64,
  /** Receive slot: above any MTU-sized datagram (RFC 8489 §7.1 asks STUN over UDP to fit the
   *  path MTU, at most 1500 bytes on Ethernet); longer ones are counted (`truncated`) and
   *  dropped. */
  slotBytes: 4096,
  /** Kernel SO_RCVBUF/SO_SNDBUF asked for, as node-udp.ts asks: a burst must not overflow. */
  bufferBytes: 4 * 1024 * 1024,
} as const;

/** Send buffer: a batch of answers packed; ≥ 64 KiB so the largest datagram always fits. */
const SEND_BYTES = 128 * 1024;
/** Largest UDP payload over IPv6 (the IPv4 bound is lower: the kernel says EMSGSIZE). */
const MAX_DATAGRAM = 65_535;
/** IPv4 address text kept per source address: most traffic comes from recurring sources. */
const NAME_CACHE_MAX = 4096;

export interface MmsgSocketOptions {
  /** IP literal to bind: '0.0.0.0' / '::' for every address (':: ' is dual-stack). */
  address: string;
  /** Default 0: any free port (read it with address()). */
  port?: number;
  /** SO_REUSEPORT: processes (`--workers`) bind the same port and the kernel spreads clients. */
  reusePort?: boolean;
  slots?: number;
  slotBytes?: number;
  bufferBytes?: number;
  /**
   * Receive into these instead of buffers of its own (`receiveBuffers(slots, slotBytes)`):
   * sockets of one thread may share them, as each batch is handed to its handler and done with
   * before any socket reads the next (batch views are valid only until the handler returns).
   * A TURN relay's socket per allocation then costs no receive buffer of its own.
   */
  receive?: ReceiveBuffers;
}

/** A socket's receive slots and their metadata (shareable: `MmsgSocketOptions.receive`). */
export interface ReceiveBuffers {
  readonly data: Uint8Array;
  readonly meta: Uint32Array;
}

/** Receive buffers for `slots` datagrams of up to `slotBytes` each. */
export function receiveBuffers(slots: number, slotBytes: number): ReceiveBuffers {
  return { data: untouched(slots * slotBytes), meta: new Uint32Array(slots * META_WORDS) };
}

export interface MmsgStats {
  /** Datagrams read (truncated ones included). */
  received: number;
  batches: number;
  truncated: number;
  recvErrors: number;
  sent: number;
  /** Not sent: the kernel's send buffer was full (EAGAIN/ENOBUFS). */
  sendDropped: number;
  /** Not sent: refused (wrong family, EMSGSIZE, EPERM, ...). */
  sendErrors: number;
}

/** A received datagram's source. Sending back to it skips parsing the address text. */
export class MmsgEndpoint implements Endpoint {
  constructor(
    readonly address: string,
    readonly port: number,
    readonly family: 'IPv4' | 'IPv6',
    /** @internal meta words FAMILY, SCOPE, ADDR0..3 (mmsg-binding.ts) */
    readonly raw: readonly [number, number, number, number, number, number],
  ) {}
}

/**
 * A data buffer whose pages cost memory only once written: not zero-filled (calloc memsets a
 * chunk taken from malloc's heap), as most of a socket's slots and send buffer may never be used
 * (a TURN relay has a socket per allocation). Only bytes written are ever read back.
 */
function untouched(bytes: number): Uint8Array {
  const b = Buffer.allocUnsafeSlow(bytes);
  return new Uint8Array(b.buffer, b.byteOffset, bytes);
}

const names = new Map<number, string>();

function ipv4Name(ip: number): string {
  let name = names.get(ip);
  if (name === undefined) {
    if (names.size >= NAME_CACHE_MAX) names.clear();
    name = `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
    names.set(ip, name);
  }
  return name;
}

/** The datagrams of one recvmmsg, read through the shared buffers; valid during the handler. */
export class MmsgBatch {
  /** Datagrams in this batch. */
  count = 0;
  readonly #binding: MmsgBinding;
  readonly #data: Uint8Array;
  readonly #meta: Uint32Array;

  /** @internal */
  constructor(binding: MmsgBinding, data: Uint8Array, meta: Uint32Array) {
    this.#binding = binding;
    this.#data = data;
    this.#meta = meta;
  }

  length(i: number): number {
    return this.#meta[i * META_WORDS + Meta.len]!;
  }

  /** Longer than the slot (MSG_TRUNC): data(i) holds only its first slotBytes. */
  truncated(i: number): boolean {
    return (this.#meta[i * META_WORDS + Meta.flags]! & FLAG_TRUNCATED) !== 0;
  }

  /** The datagram: a view of the shared buffer, overwritten by the next batch. */
  data(i: number): Uint8Array {
    const m = i * META_WORDS;
    const len = Math.min(this.#meta[m + Meta.len]!, this.#data.length);
    return this.#data.subarray(this.#meta[m + Meta.offset]!, this.#meta[m + Meta.offset]! + len);
  }

  port(i: number): number {
    return this.#meta[i * META_WORDS + Meta.port]!;
  }

  family(i: number): 'IPv4' | 'IPv6' {
    return this.#meta[i * META_WORDS + Meta.family] === 4 ? 'IPv4' : 'IPv6';
  }

  /** The source address as node:dgram writes it ('192.0.2.1', '2001:db8::1', '::ffff:…'). */
  address(i: number): string {
    const m = i * META_WORDS;
    if (this.#meta[m + Meta.family] === 4) return ipv4Name(this.#meta[m + Meta.addr0]!);
    return this.#binding.ntop(this.#meta, i);
  }

  endpoint(i: number): MmsgEndpoint {
    const m = i * META_WORDS;
    const meta = this.#meta;
    const a = Meta.addr0;
    return new MmsgEndpoint(this.address(i), meta[m + Meta.port]!, this.family(i), [
      meta[m + Meta.family]!,
      meta[m + Meta.scope]!,
      meta[m + a]!,
      meta[m + a + 1]!,
      meta[m + a + 2]!,
      meta[m + a + 3]!,
    ]);
  }
}

export class MmsgSocket {
  readonly #binding: MmsgBinding;
  readonly #handle: unknown;
  readonly #sendData: Uint8Array;
  readonly #sendMeta: Uint32Array;
  readonly #stats: Float64Array;
  readonly #slots: number;
  readonly #local: Endpoint;
  #queued = 0;
  #used = 0;
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(options: MmsgSocketOptions, onBatch: (batch: MmsgBatch) => void) {
    const binding = mmsgBinding();
    if (!binding) throw new Error(`udp_mmsg addon unavailable: ${mmsgUnavailable()}`);
    this.#binding = binding;
    const slots = options.slots ?? MMSG_DEFAULTS.slots;
    const slotBytes = options.slotBytes ?? MMSG_DEFAULTS.slotBytes;
    const port = options.port ?? 0;
    checkPort(port);
    if (isIP(options.address) === 0) throw new TypeError(`not an IP address: ${options.address}`);
    const bufferBytes = options.bufferBytes ?? MMSG_DEFAULTS.bufferBytes;
    this.#slots = slots;
    const receive = options.receive ?? receiveBuffers(slots, slotBytes);
    if (receive.data.length !== slots * slotBytes || receive.meta.length !== slots * META_WORDS)
      throw new RangeError('receive buffers do not match slots × slotBytes');
    const buffers = {
      recvData: receive.data,
      recvMeta: receive.meta,
      sendData: untouched(SEND_BYTES),
      sendMeta: new Uint32Array(slots * META_WORDS),
      stats: new Float64Array(STAT_COUNT),
    };
    this.#sendData = buffers.sendData;
    this.#sendMeta = buffers.sendMeta;
    this.#stats = buffers.stats;
    const batch = new MmsgBatch(binding, buffers.recvData, buffers.recvMeta);
    const family = isIP(options.address) === 6 ? 6 : 4;
    const config = {
      family,
      address: options.address,
      port,
      reusePort: options.reusePort ? 1 : 0,
      recvBufferBytes: bufferBytes,
      sendBufferBytes: bufferBytes,
      slots,
      slotBytes,
    } as const;
    try {
      this.#handle = binding.open(config, buffers, (count) => {
        batch.count = count;
        onBatch(batch);
      });
    } catch (err) {
      // As node:dgram reports a failed bind: "bind EADDRINUSE 127.0.0.1:3478", .address, .port.
      const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
      if (e.syscall !== undefined) {
        e.message = `${e.message} ${options.address}:${port}`;
        e.address = options.address;
        e.port = port;
      }
      throw e;
    }
    const [address, boundPort] = binding.local(this.#handle);
    this.#local = { address, port: boundPort, family: family === 4 ? 'IPv4' : 'IPv6' };
  }

  /**
   * Bind and start reading. Throws what bind(2) says (an Error with `code`, e.g. EADDRINUSE),
   * or when the addon is unavailable (`mmsgUnavailable()` says why). `onBatch` runs on the event
   * loop for every batch read; an exception it throws reaches process 'uncaughtException'.
   */
  static open(options: MmsgSocketOptions, onBatch: (batch: MmsgBatch) => void): MmsgSocket {
    return new MmsgSocket(options, onBatch);
  }

  address(): Endpoint {
    return this.#local;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Datagrams waiting for flush(). */
  get queued(): number {
    return this.#queued;
  }

  /**
   * Copy a datagram into the send buffer (a full buffer is flushed first). Throws TypeError for
   * a closed socket or an address that is not an IP literal, RangeError for a bad port; longer
   * than a UDP datagram can be, or to the other family, it is counted in `sendErrors`.
   */
  queue(data: Uint8Array, to: Endpoint): void {
    if (this.#closed) throw new TypeError('send on a closed UDP socket');
    checkPort(to.port);
    const size = Math.min(data.length, MAX_DATAGRAM + 1);
    if (this.#queued === this.#slots || this.#used + size > this.#sendData.length) this.flush();
    const meta = this.#sendMeta;
    const m = this.#queued * META_WORDS;
    if (to instanceof MmsgEndpoint) {
      const r = to.raw;
      meta[m + Meta.family] = r[0];
      meta[m + Meta.scope] = r[1];
      meta[m + Meta.addr0] = r[2];
      meta[m + Meta.addr0 + 1] = r[3];
      meta[m + Meta.addr0 + 2] = r[4];
      meta[m + Meta.addr0 + 3] = r[5];
    } else if (this.#binding.pton(to.address, meta, this.#queued) === 0) {
      throw new TypeError(`not an IP address: ${to.address}`);
    }
    meta[m + Meta.port] = to.port;
    meta[m + Meta.offset] = this.#used;
    meta[m + Meta.len] = data.length; // > MAX_DATAGRAM: refused by the addon (EMSGSIZE)
    if (data.length <= MAX_DATAGRAM) {
      this.#sendData.set(data, this.#used);
      this.#used += size;
    }
    this.#queued++;
  }

  /** Send everything queued with one sendmmsg; returns the number the kernel took. */
  flush(): number {
    const n = this.#queued;
    if (n === 0) return 0;
    this.#queued = 0;
    this.#used = 0;
    if (this.#closed) {
      this.#stats[Stat.sendDropped] = this.#stats[Stat.sendDropped]! + n;
      return 0;
    }
    return this.#binding.send(this.#handle, n);
  }

  get stats(): MmsgStats {
    const s = this.#stats;
    return {
      received: s[Stat.received]!,
      batches: s[Stat.batches]!,
      truncated: s[Stat.truncated]!,
      recvErrors: s[Stat.recvErrors]!,
      sent: s[Stat.sent]!,
      sendDropped: s[Stat.sendDropped]!,
      sendErrors: s[Stat.sendErrors]!,
    };
  }

  /** Datagrams not sent so far (dropped + refused): one read, for per-batch accounting. */
  get unsent(): number {
    return this.#stats[Stat.sendDropped]! + this.#stats[Stat.sendErrors]!;
  }

  get truncatedCount(): number {
    return this.#stats[Stat.truncated]!;
  }

  /**
   * Send what is queued and stop reading, at once; resolves when the descriptor is closed (the
   * port can be bound again), as node:dgram's close callback. Idempotent; safe in onBatch.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.flush();
    this.#closed = true;
    this.#closing = new Promise((resolve) => this.#binding.close(this.#handle, resolve));
    return this.#closing;
  }
}
