/**
 * The cluster tests' afterAll: every step runs, each bounded, whatever the others did. One
 * close that hangs (a serve draining on a loaded machine, a Peer whose server is gone) used to
 * hold the whole hook until vitest's hook timeout, and the redis-server / turnserver stopped after
 * it never were. Here a step that throws or outlasts `stepMs` is reported (console.warn) and the
 * next one runs; the processes are stopped last but always (they are also guarded against the
 * worker's own exit: bench/lib/child-guard.ts). The hook's own timeout is `hookMs`, above the
 * sum of the step bounds, so vitest never cuts it short.
 */
export const STEP_MS = 10_000;

/** For afterAll's timeout argument: room for `steps` bounded steps and a margin. */
export const hookMs = (steps: number, stepMs = STEP_MS): number => steps * stepMs + 10_000;

export type Step = readonly [what: string, run: () => unknown];

/** Run `step` with a bound; resolves (never rejects) with what went wrong, if anything. */
export async function bounded(
  what: string,
  run: () => unknown,
  stepMs = STEP_MS,
): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((r) => {
    timer = setTimeout(() => r(`${what}: still running after ${stepMs} ms`), stepMs);
  });
  try {
    return await Promise.race([
      (async () => {
        await run();
        return undefined;
      })().catch((err: unknown) => `${what}: ${String(err)}`),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Every step in order, each bounded; problems are warned about, never thrown (a hook ends). */
export async function teardown(steps: readonly Step[], stepMs = STEP_MS): Promise<void> {
  const problems: string[] = [];
  for (const [what, run] of steps) {
    const p = await bounded(what, run, stepMs);
    if (p) problems.push(p);
  }
  // eslint-disable-next-line no-console -- a test's teardown report, for the CI log
  if (problems.length > 0) console.warn(`teardown:\n  ${problems.join('\n  ')}`);
}

/** `close` for each item at once, all within one bound (independent closes need no order). */
export function all<T>(items: readonly T[], close: (t: T) => unknown): () => Promise<unknown> {
  return () => Promise.allSettled(items.map(async (t) => close(t)));
}
