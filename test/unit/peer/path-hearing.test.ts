import { describe, expect, it } from 'vitest';
import { PathHearing } from '../../../src/peer/path-hearing.js';
import { QUIET_MS, STALL_MS } from '../../../src/peer/peer-link-types.js';

describe('PathHearing', () => {
  it('an idle path is never stalled, however long it was silent', () => {
    const h = new PathHearing();
    h.adopted(0);
    h.sending(100, 0); // a bare ack: nothing in flight
    // The first data after a long silence: in flight from now on, not from the last ack.
    h.sending(60_000, 1);
    expect(h.stalled(60_000, 1)).toBeUndefined();
    expect(h.stalled(60_000 + STALL_MS - 1, 1)).toBeUndefined();
    expect(h.stalled(60_000 + STALL_MS, 1)).toMatch(/no answer on the path for 6\.0 s/);
  });

  it('hearing anything on the path restarts the count; an emptied flight ends it', () => {
    const h = new PathHearing();
    h.adopted(0);
    h.sending(0, 3);
    h.heard(5_000);
    expect(h.stalled(5_000 + STALL_MS - 1, 3)).toBeUndefined();
    expect(h.stalled(5_000 + STALL_MS, 3)).toBeDefined();
    h.handled(0); // an ack emptied the flight
    expect(h.stalled(20_000, 0)).toBeUndefined();
    h.sending(30_000, 1);
    expect(h.stalled(30_000 + STALL_MS - 1, 1)).toBeUndefined();
  });

  it('a new path starts fresh; quiet after QUIET_MS', () => {
    const h = new PathHearing();
    h.sending(0, 5);
    h.adopted(10_000);
    expect(h.stalled(10_000 + STALL_MS, 5)).toBeUndefined(); // nothing sent on this path yet
    expect(h.quiet(10_000 + QUIET_MS - 1)).toBe(false);
    expect(h.quiet(10_000 + QUIET_MS)).toBe(true);
  });

  it('two pings in a row unanswered with nothing heard drop the path; one lost ping does not', () => {
    const h = new PathHearing();
    h.adopted(0);
    expect(h.pingMissed(5_000, 0)).toBeUndefined(); // one lost ping: loss
    expect(h.pingMissed(10_000, 5_000)).toMatch(/no answer on the path for 10\.0 s \(2 pings/);
    // Anything heard in between: each lost ping is loss alone.
    const g = new PathHearing();
    g.adopted(0);
    expect(g.pingMissed(5_000, 0)).toBeUndefined();
    g.heard(6_000);
    expect(g.pingMissed(11_000, 5_500)).toBeUndefined(); // heard after this ping went out
    expect(g.pingMissed(16_000, 11_000)).toBeUndefined(); // the first miss since 6 s
    expect(g.pingMissed(21_000, 16_000)).toBeDefined();
    // A new path starts with no misses.
    g.adopted(30_000);
    expect(g.pingMissed(35_000, 30_000)).toBeUndefined();
  });
});
