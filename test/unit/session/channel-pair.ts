/**
 * Two SecureSessions a ⇄ b over LossyPipes (ab: a → b, ba: b → a) on one ManualClock, each with
 * a ReliableChannel (ca, cb); what each channel receives is kept in gotA / gotB. The harness of
 * the ReliableChannel tests (through channel-kit.ts) and reliable-post.test.ts. `seeds` fixes
 * the two pipes' loss draws.
 */
import { generateIdentity } from '../../../src/signaling/identity.js';
import {
  ReliableChannel,
  type Notification,
  type ReliableOptions,
} from '../../../src/session/reliable.js';
import { SecureSession, type SecureSessionOptions } from '../../../src/session/secure-session.js';
import { ManualClock } from '../../../src/util/clock.js';
import { LossyPipe, type PipeOptions } from './lossy-pipe.js';

export function channelPair(o: {
  seeds: [number, number];
  pipe?: PipeOptions;
  timers?: SecureSessionOptions['timers'];
  options?: ReliableOptions;
}) {
  const clock = new ManualClock();
  const ia = generateIdentity();
  const ib = generateIdentity();
  const box: { a?: SecureSession; b?: SecureSession } = {};
  const ab = new LossyPipe(clock, (d) => box.b!.handle(d), { ...o.pipe, seed: o.seeds[0] });
  const ba = new LossyPipe(clock, (d) => box.a!.handle(d), { ...o.pipe, seed: o.seeds[1] });
  const a = (box.a = new SecureSession({
    identity: ia,
    remotePeerId: ib.peerId,
    remotePublicKey: ib.publicKey,
    clock,
    send: ab.send,
    timers: o.timers,
  }));
  const b = (box.b = new SecureSession({
    identity: ib,
    remotePeerId: ia.peerId,
    remotePublicKey: ia.publicKey,
    clock,
    send: ba.send,
    timers: o.timers,
  }));
  const ca = new ReliableChannel({ session: a, clock, options: o.options });
  const cb = new ReliableChannel({ session: b, clock, options: o.options });
  const gotA: Notification[] = [];
  const gotB: Notification[] = [];
  ca.onNotification((n) => gotA.push(n));
  cb.onNotification((n) => gotB.push(n));
  const close = () => {
    ca.close();
    cb.close();
    a.close();
    b.close();
  };
  return { clock, a, b, ab, ba, ca, cb, gotA, gotB, close };
}

export type ChannelPair = ReturnType<typeof channelPair>;

/** a connects, the clock runs `ms` (the handshake), then a → b is cut: nothing a sends arrives. */
export async function cutAfterHandshake(t: ChannelPair, ms: number): Promise<void> {
  t.a.connect();
  await t.clock.advanceAsync(ms);
  t.ab.cut = true;
}
