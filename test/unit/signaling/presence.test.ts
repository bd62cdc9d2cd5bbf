import { describe, expect, it } from 'vitest';
import { Metrics, signalingMetrics } from '../../../src/signaling/metrics.js';
import { Presence, type ControlChannel } from '../../../src/signaling/presence.js';
import type { ServerMessage } from '../../../src/signaling/protocol.js';
import { ManualClock } from '../../../src/util/clock.js';

const P = 'p'.repeat(32);
const W = 'w'.repeat(32);
const X = 'x'.repeat(32);

class Chan implements ControlChannel {
  got: ServerMessage[] = [];
  rttMs = 0;
  full = false;
  constructor(
    readonly peer: string,
    readonly publicKey = 'pk',
  ) {}
  control(m: ServerMessage): boolean {
    if (this.full) return false;
    this.got.push(m);
    return true;
  }
  take(): ServerMessage[] {
    return this.got.splice(0);
  }
}

function setup() {
  const metrics = signalingMetrics(new Metrics());
  const presence = new Presence({ metrics, clock: new ManualClock(1000), punchLeadMs: 250 });
  const forwards: string[] = [];
  presence.onForward = (from, to) => forwards.push(`${from[0]}>${to[0]}`);
  const online = (c: Chan) => {
    presence.addChannel(c);
    presence.setOnline(c.peer, true, 'websocket');
  };
  return { metrics, presence, forwards, online };
}

const off = (peer: string) => ({ type: 'presence', peer, online: false });
const on = (peer: string) => ({ type: 'presence', peer, online: true, transport: 'websocket' });

describe('Presence', () => {
  it('shows a peer only to the watchers it allows, and only changes', () => {
    const { presence, online } = setup();
    const p = new Chan(P);
    const w = new Chan(W);
    const x = new Chan(X);
    [p, w, x].forEach(online);
    presence.watch(w, [P]);
    presence.watch(x, [P]);
    expect(w.take()).toEqual([off(P)]);
    expect(x.take()).toEqual([off(P)]);
    presence.allow(p, [W], false);
    expect(w.take()).toEqual([on(P)]);
    expect(x.take()).toEqual([]);
    presence.setOnline(P, true, 'websocket'); // no change: nothing sent
    presence.removeChannel(p);
    presence.setOnline(P, false, undefined);
    expect(w.take()).toEqual([off(P)]);
    expect(x.take()).toEqual([]);
    // a new connection allows nobody until it says so
    const p2 = new Chan(P);
    online(p2);
    expect(w.take()).toEqual([]);
    presence.allow(p2, [], true);
    expect(w.take()).toEqual([on(P)]);
    expect(x.take()).toEqual([on(P)]);
    expect(presence.visibleTo(P, X)).toBe('websocket');
  });

  it('forwards only to allowing, online peers; refusals are silent and counted alike', () => {
    const { presence, online, metrics, forwards } = setup();
    const p = new Chan(P);
    const w = new Chan(W);
    online(p);
    online(w);
    presence.allow(p, [W], false);
    const frame: ServerMessage = { type: 'p2p', from: W, data: 'AA' };
    expect(presence.forward(W, P, frame)).toBe(true);
    expect(presence.forward(X, P, { ...frame, from: X })).toBe(false); // not allowed
    expect(presence.forward(W, X, frame)).toBe(false); // offline / unknown
    expect(p.take()).toEqual([frame]);
    expect(metrics.drops.get({ reason: 'rendezvous_refused', type: 'p2p' })).toBe(2);
    expect(forwards).toEqual(['w>p']);
    // punch: both sides, same instant, only when allowed
    expect(presence.punch(w, P, 'r')).toBe(true);
    expect(presence.punch(p, W, 'r')).toBe(false); // W allows nobody
    const [a] = w.take() as Extract<ServerMessage, { type: 'punch-start' }>[];
    const [b] = p.take() as Extract<ServerMessage, { type: 'punch-start' }>[];
    expect(a).toMatchObject({ from: P, at: 1250 });
    expect(b).toMatchObject({ from: W, at: 1250 });
    // measured RTTs: the start waits half the larger one (the farther side's frame) plus the lead
    w.rttMs = 40;
    p.rttMs = 200;
    expect(presence.punch(w, P, 'r2')).toBe(true);
    expect(w.take()).toMatchObject([{ type: 'punch-start', at: 1000 + 100 + 250, rtt: 200 }]);
    expect(p.take()).toMatchObject([{ type: 'punch-start', at: 1350, rtt: 200 }]);
  });

  it('tells a sender `delivered` only when the recipient allows it', () => {
    const { presence, online, metrics } = setup();
    const p = new Chan(P);
    const w = new Chan(W);
    const x = new Chan(X);
    [p, w, x].forEach(online);
    presence.allow(p, [W], false);
    presence.delivered({ id: 'a', from: W, to: P }, 'websocket');
    presence.delivered({ id: 'b', from: X, to: P }, 'websocket');
    expect(w.take()).toEqual([{ type: 'delivered', id: 'a', to: P, via: 'websocket' }]);
    expect(x.take()).toEqual([]);
    expect(metrics.drops.get({ reason: 'hidden', type: 'delivered' })).toBe(1);
  });
});
