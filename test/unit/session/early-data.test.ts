import { describe, expect, it } from 'vitest';
import { generateIdentity, type Identity } from '../../../src/signaling/identity.js';
import {
  decodeRecords,
  encodeRecords,
  MAX_EARLY_DATA_BYTES,
} from '../../../src/session/early-data.js';
import { SecureSession } from '../../../src/session/secure-session.js';
import { ManualClock } from '../../../src/util/clock.js';

/** Two sessions; `server` holds what went over the session's path, delivered on demand. */
function sessions() {
  const ids = [generateIdentity(), generateIdentity()] as [Identity, Identity];
  const clock = new ManualClock();
  const server: { to: 'a' | 'b'; d: Uint8Array }[] = [];
  const got = { a: [] as string[], b: [] as string[] };
  const sa = new SecureSession({
    identity: ids[0],
    remotePeerId: ids[1].peerId,
    remotePublicKey: ids[1].publicKey,
    clock,
    send: (d) => server.push({ to: 'b', d: Uint8Array.from(d) }),
  });
  const sb = new SecureSession({
    identity: ids[1],
    remotePeerId: ids[0].peerId,
    clock,
    send: (d) => server.push({ to: 'a', d: Uint8Array.from(d) }),
  });
  sa.onMessage((m) => got.a.push(Buffer.from(m).toString()));
  sb.onMessage((m) => got.b.push(Buffer.from(m).toString()));
  const deliver = (): void => {
    while (server.length > 0) {
      const { to, d } = server.shift()!;
      (to === 'a' ? sa : sb).handle(d);
    }
  };
  return { clock, sa, sb, got, server, deliver };
}

describe('0-RTT data in a handshake carried by a check', () => {
  it('is delivered once each way at the session layer, not again on the confirmed keys', () => {
    const t = sessions();
    t.sb.onMessage((m) => {
      const s = Buffer.from(m).toString();
      if (!s.startsWith('re:')) t.sb.send(Buffer.from(`re:${s}`));
    });
    t.sa.holdHandshake(2_000);
    t.sa.send(Buffer.from('ping'));
    t.sa.send(Buffer.from('two'));
    const resp = t.sb.answerInCheck(t.sa.initForCheck()!)!;
    expect(t.got.b).toEqual(['ping', 'two']);
    t.sa.handle(resp); // the check's success response
    expect(t.got.a).toEqual(['re:ping', 're:two']);
    // A confirms B's keys; then both sides send on them. Nothing that rode as 0-RTT goes again.
    t.deliver();
    expect(t.sa.established && t.sb.established).toBe(true);
    t.sa.send(Buffer.from('after'));
    t.deliver();
    expect(t.got.b).toEqual(['ping', 'two', 'after']);
    expect(t.got.a).toEqual(['re:ping', 're:two', 're:after']);
  });

  it('what did not fit in the init goes on the keys, once', () => {
    const t = sessions();
    t.sa.holdHandshake(2_000);
    const big = 'x'.repeat(MAX_EARLY_DATA_BYTES - 4); // 2 + 796 bytes: 'late' needs 6 more
    t.sa.send(Buffer.from(big));
    t.sa.send(Buffer.from('late')); // does not fit after `big`
    t.sa.handle(t.sb.answerInCheck(t.sa.initForCheck()!)!);
    expect(t.got.b).toEqual([big]);
    t.deliver();
    expect(t.got.b).toEqual([big, 'late']);
  });

  it('an answer that is lost leaves the payloads queued: they go on the keys', () => {
    const t = sessions();
    t.sa.holdHandshake(2_000);
    t.sa.send(Buffer.from('ping'));
    t.sa.initForCheck(); // the check carrying it is lost: B never sees it
    t.sa.retryCheckInit(); // a path is up: a fresh init over it
    t.deliver();
    expect(t.sa.established && t.sb.established).toBe(true);
    expect(t.got.b).toEqual(['ping']);
  });
});

describe('0-RTT records', () => {
  it('round-trip, and report which payloads fit', () => {
    const ps = [Buffer.from('a'), Buffer.alloc(MAX_EARLY_DATA_BYTES), Buffer.from('c')];
    const r = encodeRecords(ps);
    expect(r.carried).toEqual([ps[0]]);
    expect(decodeRecords(r.bytes).map((b) => Buffer.from(b).toString())).toEqual(['a']);
    expect(() => decodeRecords(Uint8Array.from([0, 0]))).toThrow(RangeError);
    expect(() => decodeRecords(Uint8Array.from([0, 5, 1]))).toThrow(RangeError);
  });
});
