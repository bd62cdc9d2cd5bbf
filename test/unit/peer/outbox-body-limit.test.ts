/**
 * Outbox.notify's body limit (outbox.ts): a body is refused with RangeError exactly when its
 * UTF-8 bytes exceed min(LIMITS.maxBodyBytes, what the sealed envelope leaves for this id and
 * topic) — the same at the byte, whatever the characters' widths (1-4 bytes), with a short cut
 * for bodies that cannot exceed it.
 */
import { describe, expect, it } from 'vitest';
import type { LinkTable } from '../../../src/peer/link-table.js';
import { Outbox } from '../../../src/peer/outbox.js';
import { maxSealedBodyBytes } from '../../../src/peer/sealed-body.js';
import { LIMITS } from '../../../src/signaling/constants.js';
import { generateIdentity } from '../../../src/signaling/identity.js';
import { ManualClock } from '../../../src/util/clock.js';
import { silentLogger } from '../../../src/util/logger.js';

const me = generateIdentity();
const other = generateIdentity();

function outbox(): Outbox {
  let ref = 0;
  return new Outbox({
    nextRef: () => `r${ref++}`,
    identity: me,
    clock: new ManualClock(0),
    logger: silentLogger,
    direct: false,
    links: () => ({}) as LinkTable,
    remoteKey: () => Promise.resolve(other.publicKey),
    sendFrame: () => true,
    noteContact: () => {},
    onPath: () => {},
  });
}

/** `bytes` UTF-8 bytes of `ch` repeated, then ASCII to make up the rest. */
function body(bytes: number, ch: string): string {
  const w = Buffer.byteLength(ch);
  const n = Math.floor(bytes / w);
  return ch.repeat(n) + 'a'.repeat(bytes - n * w);
}

describe('Outbox.notify body limit', () => {
  const cases: { id: string; topic?: string }[] = [
    { id: 'i'.repeat(20) },
    { id: 'i'.repeat(64), topic: '€'.repeat(100) },
    { id: 'x', topic: 'alerts' },
  ];
  for (const c of cases)
    for (const ch of ['a', 'é', '€', '😀'])
      it(`id ${c.id.length} chars, topic ${c.topic ?? 'none'}, ${ch}: the limit to the byte`, async () => {
        const limit = Math.min(LIMITS.maxBodyBytes, maxSealedBodyBytes(c.id, c.topic));
        const box = outbox();
        const at = body(limit, ch);
        expect(Buffer.byteLength(at)).toBe(limit);
        const sent = box.notify(other.peerId, at, { ...c }, false);
        expect(() => box.notify(other.peerId, body(limit + 1, ch), { ...c }, false)).toThrow(
          RangeError,
        );
        // Short bodies of the same characters pass too (the short cut's side).
        const small = box.notify(
          other.peerId,
          ch.repeat(10),
          { ...c, id: `${c.id.slice(0, 60)}.s` },
          false,
        );
        box.failAll(new Error('end'));
        await expect(sent).rejects.toThrow('end');
        await expect(small).rejects.toThrow('end');
      });
});
