/**
 * Seed and size of a fuzz test run. A fixed default seed keeps `npm test` repeatable; set
 * NATPUSH_FUZZ_SEED (a number, or `random`) to explore, NATPUSH_FUZZ_COUNT for more inputs,
 * NATPUSH_FUZZ_BUDGET_MS for a longer wall-clock budget (the test stops sending at the budget
 * and checks what ran, so a loaded machine gives fewer inputs, not a timeout).
 */
export function fuzzBudget(defaults: { count?: number; budgetMs?: number } = {}): {
  seed: number;
  count: number;
  budgetMs: number;
} {
  const env = process.env;
  const s = env.NATPUSH_FUZZ_SEED;
  const seed =
    s === 'random' ? Date.now() % 0x7fffffff : s !== undefined && s !== '' ? Number(s) : 20261201;
  if (!Number.isInteger(seed)) throw new TypeError(`NATPUSH_FUZZ_SEED must be an integer: ${s}`);
  return {
    seed,
    count: Number(env.NATPUSH_FUZZ_COUNT ?? defaults.count ?? 30_000),
    budgetMs: Number(env.NATPUSH_FUZZ_BUDGET_MS ?? defaults.budgetMs ?? 35_000),
  };
}
