/**
 * The pure parts split out of the check agent (checks.ts): the checklist's pair table, priorities,
 * order and bounds (RFC 8445 §6.1.2), the nomination pick (§8.1.1), role-conflict resolution
 * (§7.3.1.1) and the Ta pacer with its triggered queue (§6.1.4), on a ManualClock.
 */
import { describe, expect, it } from 'vitest';
import type { Candidate } from '../../../src/punch/candidates.js';
import { CheckPacer } from '../../../src/punch/check-pacer.js';
import { pairPriority } from '../../../src/punch/check-types.js';
import { Checklist } from '../../../src/punch/checklist.js';
import { PUNCH_LIMITS } from '../../../src/punch/constants.js';
import { pickNomination } from '../../../src/punch/nomination.js';
import { otherRole, resolveRoleConflict } from '../../../src/punch/role-conflict.js';
import { ManualClock } from '../../../src/util/clock.js';

const cand = (type: Candidate['type'], port: number, priority: number): Candidate => ({
  type,
  address: '192.0.2.1',
  port,
  priority,
});

function list(socket = 1000, relay = 10): Checklist {
  return new Checklist((base) => (base === 'socket' ? socket : relay));
}

describe('Checklist', () => {
  it('forms each pair once, with the §6.1.2.3 priority seen from our role', () => {
    const l = list(1000);
    const c = cand('srflx', 4000, 500);
    const a = l.pair('socket', c, 'controlling')!;
    expect(l.pair('socket', c, 'controlled')).toBe(a);
    expect(a.priority).toBe(pairPriority(1000, 500));
    expect(list(1000).pair('socket', c, 'controlled')!.priority).toBe(pairPriority(500, 1000));
    expect(a).toMatchObject({ kind: 'direct', state: 'waiting', heard: false, nominated: false });
    expect(l.pair('relay', c, 'controlling')!.kind).toBe('relay');
    expect(l.pair('socket', cand('relay', 4001, 1), 'controlling')!.kind).toBe('relay');
  });

  it('orders the waiting pairs by priority and counts states', () => {
    const l = list();
    const low = l.pair('socket', cand('relay', 1, 1), 'controlling')!;
    const high = l.pair('socket', cand('host', 2, 9000), 'controlling')!;
    expect(l.bestWaiting()).toBe(high);
    high.state = 'in-progress';
    expect(l.bestWaiting()).toBe(low);
    expect(l.count('waiting')).toBe(1);
    expect(l.count('in-progress')).toBe(1);
  });

  it('bounds the remote table, prflx learning included', () => {
    const l = list();
    for (let i = 0; i < PUNCH_LIMITS.maxRemoteCandidates; i++) {
      expect(l.addRemote(cand('host', 1000 + i, 1))).toBe(true);
    }
    expect(l.addRemote(cand('host', 1000, 1))).toBe(false);
    expect(l.addRemote(cand('host', 9999, 1))).toBe(false);
    expect(l.learnPrflx({ address: '198.51.100.1', port: 1 }, 7)).toBeUndefined();
    expect(l.remoteCount).toBe(PUNCH_LIMITS.maxRemoteCandidates);
  });

  it('learns a prflx remote with the priority the check carried', () => {
    const l = list();
    const from = { address: '198.51.100.1', port: 5 };
    expect(l.learnPrflx(from, 77)).toEqual({ type: 'prflx', ...from, priority: 77 });
    expect(l.remote(from)?.priority).toBe(77);
  });

  it('takes data from the selected remote or another succeeded direct pair (the valid list)', () => {
    const l = list();
    const sel = l.pair('socket', cand('srflx', 1, 100), 'controlling')!;
    const other = l.pair('socket', cand('host', 2, 100), 'controlling')!;
    expect(l.validFor(sel, sel.remote)).toBe(true);
    expect(l.validFor(sel, other.remote)).toBe(false);
    other.state = 'succeeded';
    expect(l.validFor(sel, other.remote)).toBe(true);
    expect(l.validFor(sel, { address: '203.0.113.9', port: 2 })).toBe(false);
  });

  it('takes data from any pair the remote was heard on, on either base (issue 9/11)', () => {
    // netsim pcp restart: the controlling side's first answered aggressive nomination went to a
    // peer-reflexive remote that was our relayed address (its check came through our TURN
    // allocation), while we selected a socket pair; its data then came in on our relay base and
    // was dropped here as "not this path's remote" — every ping lost, consent (STUN) answered.
    const l = list();
    const sel = l.pair('socket', cand('srflx', 1, 100), 'controlled')!;
    const viaRelay = l.pair('relay', cand('prflx', 7, 100), 'controlled')!;
    const aborted = l.pair('socket', cand('prflx', 8, 100), 'controlled')!;
    expect(l.validFor(sel, viaRelay.remote, 'relay')).toBe(false); // never heard
    viaRelay.heard = true; // an authenticated check came from it on the relay base
    expect(l.validFor(sel, viaRelay.remote, 'relay')).toBe(true);
    expect(l.validFor(sel, viaRelay.remote, 'socket')).toBe(false); // not on that base
    // Our own check on it aborted by the selection, but its checks reached us: the other side's
    // selected pair may be this one (the answered check it selected on came from here).
    aborted.state = 'in-progress';
    aborted.heard = true;
    expect(l.validFor(sel, aborted.remote, 'socket')).toBe(true);
    expect(l.validFor(sel, sel.remote, 'relay')).toBe(false); // the selected remote, other base
  });
});

describe('pickNomination', () => {
  it('prefers a succeeded direct pair; a relay only after the grace or with no direct left', () => {
    const l = list();
    const relay = l.pair('relay', cand('srflx', 1, 100), 'controlling')!;
    const direct = l.pair('socket', cand('srflx', 2, 100), 'controlling')!;
    relay.state = 'succeeded';
    expect(pickNomination(l, false)).toBeUndefined(); // direct still waiting
    expect(pickNomination(l, true)).toBe(relay);
    direct.state = 'failed';
    expect(pickNomination(l, false)).toBe(relay);
    direct.state = 'succeeded';
    expect(pickNomination(l, true)).toBe(direct);
  });
});

describe('role conflicts (RFC 8445 §7.3.1.1)', () => {
  it('keeps the role with the larger tie-breaker when controlling, switches otherwise', () => {
    expect(resolveRoleConflict('controlling', 5n, 'controlled', 9n)).toBe('none');
    expect(resolveRoleConflict('controlling', 9n, 'controlling', 5n)).toBe('keep');
    expect(resolveRoleConflict('controlling', 5n, 'controlling', 9n)).toBe('switch');
    expect(resolveRoleConflict('controlled', 5n, 'controlled', 9n)).toBe('keep');
    expect(resolveRoleConflict('controlled', 9n, 'controlled', 5n)).toBe('switch');
    expect(otherRole('controlled')).toBe('controlling');
  });
});

describe('CheckPacer', () => {
  it('sends one check per Ta, triggered pairs first, and stops when nothing waits', () => {
    const clock = new ManualClock();
    const l = list();
    const best = l.pair('socket', cand('host', 1, 9000), 'controlling')!;
    const worst = l.pair('socket', cand('relay', 2, 1), 'controlling')!;
    const sent: number[] = [];
    let active = false;
    const pacer = new CheckPacer({
      clock,
      taMs: 5,
      list: l,
      active: () => active,
      check: (p) => {
        sent.push(p.remote.port);
        p.state = 'in-progress';
      },
    });
    pacer.trigger(worst);
    pacer.trigger(worst);
    expect(pacer.queued).toBe(1); // once per pair, nothing sent before start
    active = true;
    pacer.kick();
    expect(sent).toEqual([2]);
    clock.advance(4);
    expect(sent).toEqual([2]);
    clock.advance(1);
    expect(sent).toEqual([2, 1]);
    clock.advance(50);
    expect(sent).toEqual([2, 1]);
    expect(best.state).toBe('in-progress');
    pacer.stop();
  });
});
