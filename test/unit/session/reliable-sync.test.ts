/**
 * Channels over a synchronous path (inbound-queue.ts): each session's `send` calls the other's
 * `handle` directly, as an in-process transport or a MemoryNetwork that delivers at once may, so
 * our send → the peer's ack → our handle → our next send all happen on one stack. Before the
 * channel deferred a datagram arriving from inside its own send, a flood nested one level per
 * round trip until V8's stack overflowed (a RangeError thrown mid-way through the channel's
 * state, swallowed by a session's transmit): notifications acked but never delivered, or stalled.
 * Also the DatagramBuilder's guarantees on such a path: no half-written frame, no throw.
 */
import { describe, expect, it } from 'vitest';
import { DatagramBuilder } from '../../../src/session/datagram-builder.js';
import { decodeFrames, encodePing, FrameType } from '../../../src/session/reliable-frames.js';
import { ReliableChannel } from '../../../src/session/reliable.js';
import { SecureSession } from '../../../src/session/secure-session.js';
import { generateIdentity } from '../../../src/signaling/identity.js';
import { ManualClock } from '../../../src/util/clock.js';

/** Two sessions wired to each other's `handle`, with channels; `depth` = deepest nesting seen. */
function syncPair() {
  const clock = new ManualClock();
  const ia = generateIdentity();
  const ib = generateIdentity();
  const box: { a?: SecureSession; b?: SecureSession } = {};
  const probe = { depth: 0, maxDepth: 0 };
  const wire = (to: () => SecureSession) => (d: Uint8Array) => {
    probe.maxDepth = Math.max(probe.maxDepth, ++probe.depth);
    try {
      to().handle(d);
    } finally {
      probe.depth--;
    }
  };
  const a = (box.a = new SecureSession({
    identity: ia,
    remotePeerId: ib.peerId,
    remotePublicKey: ib.publicKey,
    clock,
    send: wire(() => box.b!),
  }));
  const b = (box.b = new SecureSession({
    identity: ib,
    remotePeerId: ia.peerId,
    clock,
    send: wire(() => box.a!),
  }));
  const options = { ackEveryDatagrams: 1 };
  const ca = new ReliableChannel({ session: a, clock, options });
  const cb = new ReliableChannel({ session: b, clock, options });
  const close = () => [ca, cb, a, b].forEach((x) => x.close());
  return { clock, a, b, ca, cb, probe, close };
}

describe('ReliableChannel over a synchronous path', () => {
  it('a flood of 600 (every third fragmented) arrives once, in order, acked once, 20 runs out of 20', async () => {
    const N = 600;
    const ids = Array.from({ length: N }, (_, i) => `m-${i}`);
    for (let run = 0; run < 20; run++) {
      const t = syncPair();
      const got: string[] = [];
      t.cb.onNotification((n) => got.push(n.id));
      t.a.connect();
      const done = new Map<string, (Error | undefined)[]>();
      for (let i = 0; i < N; i++) {
        const body = 'x'.repeat(i % 3 === 0 ? 3_000 : 100);
        t.ca.post({ id: ids[i]!, body }, (err) => {
          done.set(ids[i]!, [...(done.get(ids[i]!) ?? []), err]);
        });
      }
      for (let ms = 0; ms < 300_000 && done.size < N; ms += 50) await t.clock.advanceAsync(50);
      await t.clock.advanceAsync(10_000); // a late duplicate or callback would show here
      expect(got, `run ${run}`).toEqual(ids);
      expect([...done.values()].filter((d) => d.length !== 1 || d[0] !== undefined)).toEqual([]);
      expect(done.size).toBe(N);
      expect(t.ca.stats.protocolErrors + t.cb.stats.protocolErrors).toBe(0);
      // The stack holds one datagram's round trip (and the handshake's), not one per round trip.
      expect(t.probe.maxDepth, `run ${run}`).toBeLessThanOrEqual(4);
      t.close();
    }
  });
});

describe('DatagramBuilder on a synchronous path', () => {
  it('a flush that brings frames back in leaves every datagram whole', () => {
    const sent: Buffer[] = [];
    let nested = 0;
    const out: DatagramBuilder = new DatagramBuilder(200, (p) => {
      sent.push(Buffer.from(p));
      // As a peer answering from inside our send: a frame added and flushed in the middle.
      if (nested++ < 3) {
        out.add(encodePing(FrameType.PONG, nested));
        out.flush();
      }
    });
    for (let i = 0; i < 40; i++) out.addData(7, i, 0, 1_000, 0, 1, Buffer.alloc(30, i));
    out.flush();
    const pns = sent.flatMap((p) =>
      decodeFrames(p).flatMap((f) => (f.type === FrameType.DATA ? [f.pn] : [])),
    );
    expect(pns).toEqual(Array.from({ length: 40 }, (_, i) => i));
    for (const p of sent) expect(p.length).toBeLessThanOrEqual(200);
  });

  it('a frame larger than a datagram is reported and dropped, never thrown', () => {
    const sent: Uint8Array[] = [];
    const oversize: number[] = [];
    const out = new DatagramBuilder(
      100,
      (p) => void sent.push(p),
      (n) => oversize.push(n),
    );
    expect(() => out.addData(1, 0, 0, 0, 0, 1, Buffer.alloc(200))).not.toThrow();
    expect(() => out.add(Buffer.alloc(101, FrameType.PING))).not.toThrow();
    out.flush();
    expect(oversize).toEqual([221, 101]);
    expect(sent).toEqual([]);
  });
});
