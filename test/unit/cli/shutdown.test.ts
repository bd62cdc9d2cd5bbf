import { describe, expect, it } from 'vitest';
import { stopAndExit } from '../../../src/cli/shutdown.js';

function harness() {
  const codes: number[] = [];
  const lines: string[] = [];
  return {
    codes,
    lines,
    o: { exit: (c: number) => void codes.push(c), stderr: (l: string) => void lines.push(l) },
  };
}

describe('stopAndExit', () => {
  it('exits 0 once close resolves', async () => {
    const h = harness();
    await stopAndExit('relay', async () => {}, { ...h.o, deadlineMs: 1_000 });
    expect(h.codes).toEqual([0]);
    expect(h.lines).toEqual([]);
  });

  it('exits 1 with the reason when close throws', async () => {
    const h = harness();
    await stopAndExit('serve', () => Promise.reject(new Error('disk gone')), h.o);
    expect(h.codes).toEqual([1]);
    expect(h.lines[0]).toMatch(/serve failed to stop cleanly: Error: disk gone/);
  });

  it('exits 1 with NATPUSH_ERR_SHUTDOWN_TIMEOUT when close outlives the deadline, once', async () => {
    const h = harness();
    let finish!: () => void;
    const closing = new Promise<void>((r) => (finish = r));
    const stopping = stopAndExit('relay', () => closing, { ...h.o, deadlineMs: 50 });
    await new Promise((r) => setTimeout(r, 120));
    expect(h.codes).toEqual([1]);
    expect(h.lines[0]).toBe(
      'natpush: NATPUSH_ERR_SHUTDOWN_TIMEOUT: relay did not stop within 0.05 s; exiting now',
    );
    finish();
    await stopping;
    expect(h.codes).toEqual([1]); // a late close does not exit a second time
  });
});
