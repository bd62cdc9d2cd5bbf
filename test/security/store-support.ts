/**
 * Shared by the store-side attack tests (mailbox-flood, data-at-rest, id-squatting,
 * store-failure): a real `natpush serve` child process (built CLI, real SQLite) in a temporary
 * data directory, an app that posts with the API key, and registered peers.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type NatpushProcess } from '../integration/signaling/natpush-process.js';
import { httpSession, post } from '../integration/signaling/helpers.js';
import { generateIdentity, type Identity } from '../../src/signaling/identity.js';
import type { Peer, ReceivedNotification } from '../../src/peer/peer.js';

export const KEY = 'security-store-api-key';
/** Signaling only: these tests attack the mailbox, not STUN or the relay. */
export const LEAN = ['--no-relay', '--no-stun'];

export class Cleanup {
  readonly #fns: (() => Promise<void> | void)[] = [];

  add(f: () => Promise<void> | void): void {
    this.#fns.push(f);
  }

  tmpDir(prefix: string): string {
    const d = mkdtempSync(join(tmpdir(), prefix));
    this.add(() => rmSync(d, { recursive: true, force: true }));
    return d;
  }

  /**
   * A real tmpfs of `kib` KiB mounted on a fresh directory (needs root): a disk that really fills
   * up (ENOSPC → SQLITE_FULL) and that can really be remounted read-only.
   */
  tmpfs(kib: number): string {
    const d = mkdtempSync(join(tmpdir(), 'np-sec-fs-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${kib}k,mode=0700`, 'tmpfs', d]);
    this.add(() => {
      execFileSync('umount', ['-l', d]);
      rmdirSync(d);
    });
    return d;
  }

  async serve(
    dataDir: string,
    extra: string[] = [],
    port = 0,
  ): Promise<{ p: NatpushProcess; url: string; port: number }> {
    const s = await serve(dataDir, ['--api-key', KEY, ...extra], port);
    this.add(() => s.p.kill());
    return s;
  }

  async run(): Promise<void> {
    for (const f of this.#fns.splice(0).reverse()) await f();
  }
}

/** A peer known to the server (registered over HTTP: challenge + session), then offline. */
export async function registeredPeer(url: string): Promise<Identity> {
  const id = generateIdentity();
  await httpSession({ url }, id);
  return id;
}

/**
 * Up to `n` notifications from `peer`, waiting at most `ms` (so a missing one fails the
 * assertion that follows instead of hanging the test). Each is acked as it is taken.
 */
export async function take(peer: Peer, n: number, ms: number): Promise<ReceivedNotification[]> {
  const got: ReceivedNotification[] = [];
  if (n === 0) return got;
  try {
    for await (const x of peer.notifications({ signal: AbortSignal.timeout(ms) })) {
      got.push(x);
      if (got.length >= n) break;
    }
  } catch {
    // timed out: the caller's assertion on `got` says what is missing
  }
  return got;
}

/** POST a notification as the app (API key). */
export function appPost(
  url: string,
  to: string,
  b: { id?: string; body: string; topic?: string },
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
): Promise<{ status: number; json: any }> {
  return post(`${url}/v1/peers/${to}/notifications`, b, { authorization: `Bearer ${KEY}` });
}
