import { describe, expect, it } from 'vitest';
import type { UdpNetwork } from '../../../src/net/udp.js';
import { PortmapLayer } from '../../../src/peer/portmap-layer.js';
import { MAPPED_CANDIDATE_PRIORITY } from '../../../src/punch/portmap/index.js';
import type { PortMapping } from '../../../src/punch/portmap/index.js';
import { ManualClock } from '../../../src/util/clock.js';
import { silentLogger, type Logger } from '../../../src/util/logger.js';

/** A mapper whose map() the test settles. */
function fakeMapper() {
  let settle!: { ok: (m: PortMapping) => void; fail: (e: Error) => void };
  const state = {
    mapping: undefined as PortMapping | undefined,
    closed: 0,
    mapped: [] as number[],
  };
  const listeners = new Set<(m: PortMapping | undefined) => void>();
  const mapper = {
    get mapping() {
      return state.mapping;
    },
    map(port: number) {
      state.mapped.push(port);
      return new Promise<PortMapping>((ok, fail) => {
        settle = {
          ok: (m) => {
            state.mapping = m;
            ok(m);
          },
          fail,
        };
      });
    },
    onChange(fn: (m: PortMapping | undefined) => void) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    close() {
      state.closed++;
      state.mapping = undefined;
      return Promise.resolve();
    },
  };
  return {
    mapper,
    state,
    settle: () => settle,
    emit: (m?: PortMapping) => {
      state.mapping = m;
      for (const l of listeners) l(m);
    },
  };
}

const mapping: PortMapping = {
  via: 'pcp',
  protocol: 'udp',
  internalPort: 5000,
  external: { address: '198.51.100.9', port: 5000 },
  lifetimeSec: 7200,
  grantedAt: 0,
};

function logSpy() {
  const lines: { level: string; msg: string }[] = [];
  const log: Logger = {
    debug: (msg) => lines.push({ level: 'debug', msg }),
    info: (msg) => lines.push({ level: 'info', msg }),
    warn: (msg) => lines.push({ level: 'warn', msg }),
    error: (msg) => lines.push({ level: 'error', msg }),
  };
  return { log, lines };
}

describe('PortmapLayer', () => {
  // The network is the mapper's; an injected mapper never touches it.
  const base = { net: {} as UdpNetwork, clock: new ManualClock(), logger: silentLogger };
  /** A layer for socket port 5000 on a fake mapper; `changes()` counts its onChange calls. */
  const layer = (logger: Logger = silentLogger) => {
    const f = fakeMapper();
    const counted = { changes: 0 };
    const l = new PortmapLayer({
      ...base,
      logger,
      port: 5000,
      mapper: f.mapper,
      onChange: () => counted.changes++,
    });
    return { f, l, changes: () => counted.changes };
  };

  it('maps the socket port at once; no candidate until granted, then the mapping, re-gathered', async () => {
    const { f, l, changes } = layer();
    expect(f.state.mapped).toEqual([5000]);
    expect(l.candidates()).toEqual([]);
    f.settle().ok(mapping);
    await Promise.resolve();
    await Promise.resolve();
    expect(changes()).toBe(1);
    expect(l.candidates()).toEqual([
      { type: 'srflx', address: '198.51.100.9', port: 5000, priority: MAPPED_CANDIDATE_PRIORITY },
    ]);
    // Double NAT: STUN saw another address than the router's mapping: not offered.
    const srflx = { type: 'srflx' as const, port: 1, priority: 1 };
    expect(l.candidates([{ ...srflx, address: '203.0.113.5' }])).toEqual([]);
    expect(l.candidates([{ ...srflx, address: '198.51.100.9' }])).toHaveLength(1);
    f.emit(undefined); // lost on renewal
    expect(changes()).toBe(2);
    expect(l.candidates()).toEqual([]);
    await l.close();
    await l.close();
    expect(f.state.closed).toBe(1);
  });

  it('no router: a debug line, no change, nothing louder', async () => {
    const { log, lines } = logSpy();
    const { f, l, changes } = layer(log);
    f.settle().fail(new Error('no port mapping: pcp: timeout'));
    await new Promise((r) => setImmediate(r));
    expect(changes()).toBe(0);
    expect(lines).toEqual([{ level: 'debug', msg: 'no port mapping' }]);
    await l.close();
  });

  it('a grant that lands after close is not announced', async () => {
    const { f, l, changes } = layer();
    await l.close();
    f.settle().ok(mapping);
    await new Promise((r) => setImmediate(r));
    expect(changes()).toBe(0);
    expect(l.candidates()).toEqual([]);
  });
});
