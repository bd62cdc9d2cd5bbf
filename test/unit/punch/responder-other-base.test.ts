/**
 * Issue 9/11 (netsim, pcp restarted): after we selected a socket pair, the other side's check
 * through our relay allocation (its first answered aggressive nomination) came from a source we
 * had no pair for. It was answered — so the other side selected that pair — but no pair was
 * formed here, so the data it then sent that way was not from a pair heard on our relay base and
 * the path's data filter dropped it. Now the check forms the pair (heard) on the other base;
 * on the selected base a new source still means the remote moved (remote-move.ts).
 */
import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../src/net/udp.js';
import { decodeStunMessage } from '../../../src/stun/message.js';
import { buildCheck, newIceCredentials, newTieBreaker } from '../../../src/punch/check-message.js';
import { CheckResponder, type ResponderHost } from '../../../src/punch/check-responder.js';
import { newCheckStats, type CandidatePair } from '../../../src/punch/check-types.js';
import { Checklist } from '../../../src/punch/checklist.js';

function responder(): {
  r: CheckResponder;
  list: Checklist;
  sent: Endpoint[];
  moved: Endpoint[];
  check: (from: Endpoint) => ReturnType<typeof decodeStunMessage>;
  selected: CandidatePair;
} {
  const local = newIceCredentials();
  const remote = newIceCredentials();
  const list = new Checklist(() => 100);
  const srflx = { type: 'srflx' as const, address: '198.51.100.2', port: 4000, priority: 100 };
  list.addRemote(srflx);
  const selected = list.pair('socket', srflx, 'controlled')!;
  selected.state = 'succeeded';
  const sent: Endpoint[] = [];
  const moved: Endpoint[] = [];
  const host = {
    o: {
      local,
      remote,
      tieBreaker: 1n,
      transactions: { socket: {}, relay: {} },
      send: (_b: Uint8Array, to: Endpoint) => sent.push(to),
    },
    stats: newCheckStats(),
    list,
    carrier: {},
    role: () => 'controlled',
    switchRole: () => {},
    selected: () => selected,
    done: () => false,
    moved: (from: Endpoint) => moved.push(from),
    select: () => {},
    nominatedLate: () => {},
    trigger: () => {},
  } as unknown as ResponderHost;
  const check = (_from: Endpoint) =>
    decodeStunMessage(
      buildCheck({
        local: remote,
        remote: local,
        priority: 50,
        role: 'controlling',
        tieBreaker: newTieBreaker() | 2n,
        useCandidate: true,
      }),
    );
  return { r: new CheckResponder(host), list, sent, moved, check, selected };
}

describe('a check after selection', () => {
  it('through our relay from a new source: answered, and its pair heard there', () => {
    const { r, list, sent, moved, check, selected } = responder();
    const from = { address: '198.51.100.2', port: 51_234 }; // the remote's NAT toward our relay
    r.handle(check(from), from, 'relay');
    expect(sent).toEqual([from]);
    expect(moved).toEqual([]);
    expect(list.find('relay', from)?.heard).toBe(true);
    expect(list.validFor(selected, from, 'relay')).toBe(true);
  });

  it('on the selected base from a new source: the remote moved, no pair', () => {
    const { r, list, moved, check } = responder();
    const from = { address: '198.51.100.2', port: 51_235 };
    r.handle(check(from), from, 'socket');
    expect(moved).toEqual([from]);
    expect(list.find('socket', from)).toBeUndefined();
  });
});
