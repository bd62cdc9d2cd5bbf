/**
 * Loading the udp_mmsg addon (native/udp-mmsg: recvmmsg/sendmmsg for the STUN server, issue 10).
 * `npm run build` compiles it; a copy of natpush without it (an npm tarball installed where no
 * compiler ran, another OS) still works on node:dgram, and says so once (mmsg-network.ts).
 *
 * The addon is pure Node-API (ABI-stable): the one build loads on Node 20 and Node 24.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The addon's functions (native/udp-mmsg/udp_mmsg.c documents each). */
export interface MmsgBinding {
  open(
    config: MmsgNativeConfig,
    buffers: MmsgNativeBuffers,
    onBatch: (count: number) => void,
  ): unknown;
  local(handle: unknown): [string, number];
  send(handle: unknown, count: number): number;
  /** Stops reading at once; `onClosed` runs once the descriptor is closed (port free). */
  close(handle: unknown, onClosed?: () => void): void;
  /** Address text of meta entry `index` (inet_ntop: as node:dgram reports it). */
  ntop(meta: Uint32Array, index: number): string;
  /** Parse IP text into meta entry `index` (family, scope, words); 4, 6 or 0 (not an IP). */
  pton(text: string, meta: Uint32Array, index: number): number;
  readonly META_WORDS: number;
  readonly STAT_COUNT: number;
}

export interface MmsgNativeConfig {
  family: 4 | 6;
  address: string;
  port: number;
  reusePort: 0 | 1;
  recvBufferBytes: number;
  sendBufferBytes: number;
  slots: number;
  slotBytes: number;
}

export interface MmsgNativeBuffers {
  recvData: Uint8Array;
  recvMeta: Uint32Array;
  sendData: Uint8Array;
  sendMeta: Uint32Array;
  stats: Float64Array;
}

const ADDON = join('native', 'udp-mmsg', 'build', 'Release', 'udp_mmsg.node');

let loaded: { binding?: MmsgBinding; error?: string } | undefined;

/** The package root holding the built addon: src/net (tests) or dist/src/net (the build). */
function findAddon(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, ADDON);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return undefined;
}

function load(): { binding?: MmsgBinding; error?: string } {
  if (process.platform !== 'linux') {
    return { error: `recvmmsg/sendmmsg need Linux (this is ${process.platform})` };
  }
  const path = findAddon();
  if (!path) return { error: `${ADDON} is not built (npm run build compiles it)` };
  try {
    const binding = createRequire(import.meta.url)(path) as MmsgBinding;
    if (typeof binding.open !== 'function' || binding.META_WORDS !== META_WORDS) {
      return { error: `${path} is another version of the addon: rebuild it (npm run build)` };
    }
    return { binding };
  } catch (err) {
    return { error: `${path} does not load: ${(err as Error).message}` };
  }
}

/** The addon, or undefined (then `mmsgUnavailable()` says why). Loaded once. */
export function mmsgBinding(): MmsgBinding | undefined {
  loaded ??= load();
  return loaded.binding;
}

/** Why the addon cannot be used, or undefined when it can. */
export function mmsgUnavailable(): string | undefined {
  loaded ??= load();
  return loaded.error;
}

/** Words per datagram in the meta arrays, and their indices (udp_mmsg.c, same order). */
export const META_WORDS = 12;
export const Meta = {
  len: 0,
  port: 1,
  family: 2,
  flags: 3,
  scope: 4,
  offset: 5,
  addr0: 6,
} as const;
/** Meta FLAGS bit: the datagram was longer than its slot (MSG_TRUNC). */
export const FLAG_TRUNCATED = 1;

/** Indices of the stats counters the addon writes (udp_mmsg.c, same order). */
export const Stat = {
  received: 0,
  batches: 1,
  truncated: 2,
  recvErrors: 3,
  sent: 4,
  sendDropped: 5,
  sendErrors: 6,
  lastErrno: 7,
} as const;
export const STAT_COUNT = 8;
