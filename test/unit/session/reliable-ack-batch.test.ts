/**
 * Acks for a batch of datagrams handed over in one JS task (a batched socket: recvmmsg gives up
 * to 64 per task, src/net/mmsg-network.ts): of the immediate acks due in one task, the first
 * goes at once and the rest become one at the task's end. One datagram per task (node:dgram)
 * acks exactly as before. Duplicates are the case that matters: a sender that resent its whole
 * flight after a path change (`pathChanged`) used to get one ack per duplicate.
 */
import { describe, expect, it } from 'vitest';
import { decodeFrames, FrameType } from '../../../src/session/reliable-frames.js';
import { ReliableChannel, type DatagramSession } from '../../../src/session/reliable.js';
import { ManualClock } from '../../../src/util/clock.js';

/** A session that keeps what the channel sends and lets the test hand it datagrams. */
function fakeSession() {
  const sent: Uint8Array[] = [];
  let deliver: (p: Uint8Array) => void = () => {};
  const session: DatagramSession = {
    send: (p) => {
      sent.push(Uint8Array.from(p)); // the channel reuses its buffer
      return 'sent';
    },
    onMessage: (cb) => {
      deliver = cb;
      return () => {};
    },
  };
  return { session, sent, deliver: (p: Uint8Array) => deliver(Uint8Array.from(p)) };
}

const acks = (sent: Uint8Array[]) =>
  sent.filter((d) => decodeFrames(d).some((f) => f.type === FrameType.ACK)).length;

const tick = () => new Promise<void>((r) => setTimeout(r, 0));

describe('ReliableChannel acks, a batch of datagrams per task', () => {
  it('acks duplicates in one task twice at most, one per task when they come one per task', async () => {
    const clock = new ManualClock();
    const a = fakeSession();
    const b = fakeSession();
    const ca = new ReliableChannel({ session: a.session, clock });
    const cb = new ReliableChannel({ session: b.session, clock });
    const got: string[] = [];
    cb.onNotification((n) => got.push(n.id));
    // 1,000-byte bodies: one notification per datagram.
    const N = 12;
    for (let i = 0; i < N; i++) ca.post({ id: `n${i}`, body: 'x'.repeat(1000) }, () => {});
    await tick();
    const data = a.sent.splice(0);
    expect(data).toHaveLength(N);

    // First copies, one batch: delivered; the last is marked "ack now" (the end of a burst).
    for (const d of data) b.deliver(d);
    await tick();
    expect(got).toHaveLength(N);
    expect(acks(b.sent.splice(0))).toBe(1);

    // The sender resent its flight: every copy is a duplicate, each calls for an ack at once.
    for (const d of data) b.deliver(d);
    const atOnce = acks(b.sent);
    await tick();
    expect(atOnce).toBe(1);
    expect(acks(b.sent.splice(0))).toBe(2);

    // One per task (node:dgram): each duplicate still acked at once.
    for (const d of data) {
      b.deliver(d);
      await tick();
    }
    expect(acks(b.sent.splice(0))).toBe(N);
    expect(got).toHaveLength(N);
    ca.close();
    cb.close();
  });
});
