import { describe, expect, it } from 'vitest';
import { fuzzChannelData, fuzzTurnServer } from '../../../bench/lib/turn-fuzz.js';

describe('TURN fuzz loop (short; bench/turn-fuzz.ts runs it long)', () => {
  it('ChannelData decoder and TCP de-framer: 20,000 random and mutated inputs, only framing errors', () => {
    const r = fuzzChannelData(20_000, 12345);
    expect(r.inputs).toBe(20_000);
    expect(r.decoded).toBeGreaterThan(100);
    expect(r.framed).toBeGreaterThan(100);
    expect(r.framingErrors).toBeGreaterThan(100);
  });

  it('TURN server: 5,000 mutated requests/indications/ChannelData — no 500, no error log, still serves', async () => {
    const r = await fuzzTurnServer(5_000, 777);
    expect(r.errorLogs).toEqual([]);
    expect(r.serverErrors).toBe(0);
    expect(r.counters.requests as number).toBeGreaterThan(1000);
  });
});
