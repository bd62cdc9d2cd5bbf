/**
 * What an answer to our check means (check-outcome.ts, RFC 8445 §7.2.5), and the agent acting
 * on it (checks.ts): a nomination answered with an error other than 487 fails that pair, and the
 * controlling side goes on to nominate another valid pair (or fails the punch at once when none
 * is left) rather than waiting for the punch timeout.
 */
import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../src/net/udp.js';
import type { Candidate } from '../../../src/punch/candidates.js';
import { buildCheckSuccess } from '../../../src/punch/check-message.js';
import { checkOutcome } from '../../../src/punch/check-outcome.js';
import type { CandidatePair } from '../../../src/punch/check-types.js';
import { CheckAgent } from '../../../src/punch/checks.js';
import { Attr } from '../../../src/stun/attribute-type.js';
import { shortTermKey } from '../../../src/stun/integrity.js';
import { StunMessageBuilder } from '../../../src/stun/message-builder.js';
import { BINDING_ERROR } from '../../../src/stun/message-type.js';
import { decodeStunMessage, type StunMessage } from '../../../src/stun/message.js';
import { StunTransactions } from '../../../src/stun/transaction.js';
import { ManualClock } from '../../../src/util/clock.js';

const LOCAL = { ufrag: 'LLLLLLLL', pwd: 'local-pwd-local-pwd-local' };
const REMOTE = { ufrag: 'RRRRRRRR', pwd: 'remote-pwd-remote-pwd-rem' };
const MAPPED: Endpoint = { address: '203.0.113.9', port: 7000 };

const request = (): StunMessage =>
  decodeStunMessage(
    new StunMessageBuilder(
      0x0001,
      Uint8Array.from({ length: 12 }, (_, i) => i + 1),
    ).build(),
  );

/** The remote's answers to our check `req`, signed with its pwd. */
const success = (req: StunMessage): Uint8Array => buildCheckSuccess(req, MAPPED, REMOTE.pwd);
function error(req: StunMessage, code: number): Uint8Array {
  return new StunMessageBuilder(BINDING_ERROR, req.transactionId)
    .addErrorCode(code, code === 487 ? 'Role Conflict' : 'Bad Request')
    .addIntegrity(shortTermKey(REMOTE.pwd))
    .addFingerprint()
    .build();
}

function freshPair(over: Partial<CandidatePair> = {}): CandidatePair {
  const remote: Candidate = { type: 'srflx', address: '198.51.100.1', port: 5000, priority: 1 };
  return {
    id: 'socket|198.51.100.1:5000',
    base: 'socket',
    remote,
    kind: 'direct',
    priority: 1n,
    state: 'in-progress',
    heard: false,
    nominated: false,
    ...over,
  };
}

describe('checkOutcome (RFC 8445 §7.2.5)', () => {
  const o = { nominate: false, role: 'controlling' as const, selected: false };

  it('487 before a selection: switch role; after one, or another error: the pair failed', () => {
    const req = request();
    const p = freshPair();
    expect(checkOutcome(p, decodeStunMessage(error(req, 487)), 9, o)).toBe('switch-role');
    expect(p.state).toBe('in-progress');
    const late = { ...o, selected: true };
    expect(checkOutcome(p, decodeStunMessage(error(req, 487)), 9, late)).toBe('failed');
    expect(p.state).toBe('failed');
    const q = freshPair();
    expect(checkOutcome(q, decodeStunMessage(error(req, 400)), 9, o)).toBe('failed');
    expect(q.state).toBe('failed');
  });

  it('a success makes the pair valid, with its round trip and our mapped address', () => {
    const p = freshPair();
    expect(checkOutcome(p, decodeStunMessage(success(request())), 42, o)).toBe('succeeded');
    expect(p).toMatchObject({ state: 'succeeded', rttMs: 42, mapped: MAPPED, nominated: false });
  });

  it('selects on our answered nomination (controlling) or a nominated pair (controlled)', () => {
    const ok = (): StunMessage => decodeStunMessage(success(request()));
    const p = freshPair();
    expect(checkOutcome(p, ok(), 1, { ...o, nominate: true })).toBe('nominated');
    expect(p.nominated).toBe(true);
    // Controlled: a nomination flag on our check means nothing; the remote's USE-CANDIDATE does.
    const controlled = { ...o, role: 'controlled' as const, nominate: true };
    expect(checkOutcome(freshPair(), ok(), 1, controlled)).toBe('succeeded');
    expect(checkOutcome(freshPair({ nominated: true }), ok(), 1, controlled)).toBe('select');
  });
});

/** A controlling agent whose remote is reached only through relays (two relayed candidates). */
function relayOnlyAgent() {
  const clock = new ManualClock();
  const out: { bytes: Uint8Array; to: Endpoint }[] = [];
  const tx = new StunTransactions({ send: (bytes, to) => out.push({ bytes, to }), clock });
  const agent = new CheckAgent({
    role: 'controlling',
    tieBreaker: 5n,
    local: LOCAL,
    remote: REMOTE,
    localPriority: { socket: 100 },
    transactions: { socket: tx },
    send: () => {},
    clock,
  });
  for (const port of [6000, 6001])
    agent.addRemote({ type: 'relay', address: '192.0.2.50', port, priority: 10 + port });
  /** Answer every check sent so far with `answer(request)`; let the agent see the answers. */
  const answerAll = async (answer: (req: StunMessage) => Uint8Array): Promise<void> => {
    for (const { bytes, to } of out.splice(0)) {
      const res = answer(decodeStunMessage(bytes));
      expect(agent.screenResponse(decodeStunMessage(res))).toBe('mine');
      tx.handle(res, to);
    }
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  const nominates = (): boolean =>
    out.some(({ bytes }) => decodeStunMessage(bytes).has(Attr.UseCandidate));
  return { clock, agent, out, answerAll, nominates };
}

describe('a nomination answered with an error', () => {
  it('fails that pair only: the controlling side nominates the other valid pair', async () => {
    const t = relayOnlyAgent();
    const selected: CandidatePair[] = [];
    const failed: string[] = [];
    t.agent.onSelected((p) => selected.push(p));
    t.agent.onFailed((r) => failed.push(r));
    t.agent.start();
    t.clock.advance(5); // Ta: both pairs checked
    expect(t.out).toHaveLength(2);
    expect(t.nominates()).toBe(false); // relayed pairs: no aggressive nomination
    await t.answerAll(success); // both valid; no direct pair: the best is nominated at once
    expect(t.nominates()).toBe(true);
    await t.answerAll((req) => error(req, 400));
    expect(t.agent.pairs().filter((p) => p.state === 'failed')).toHaveLength(1);
    // The other valid pair is nominated now, not after the punch timeout.
    expect(t.nominates()).toBe(true);
    await t.answerAll(success);
    expect(selected).toHaveLength(1);
    expect(selected[0]!.state).toBe('succeeded');
    expect(failed).toEqual([]);
    t.agent.close();
  });

  it('with no other pair left, the punch fails at once', async () => {
    const t = relayOnlyAgent();
    const failed: string[] = [];
    t.agent.onFailed((r) => failed.push(r));
    t.agent.start();
    t.clock.advance(5);
    // One pair answers, the other fails outright.
    let n = 0;
    await t.answerAll((req) => (n++ === 0 ? success(req) : error(req, 400)));
    expect(t.nominates()).toBe(true);
    await t.answerAll((req) => error(req, 400));
    expect(failed).toEqual(['every candidate pair failed']);
    t.agent.close();
  });
});
