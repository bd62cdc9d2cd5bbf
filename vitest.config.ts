import { defineConfig } from 'vitest/config';

// Four tiers, each runnable alone: `vitest run --project unit` etc.
// netsim and interop need root and Debian packages; see test/support/prereq.ts.
export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    // expect.poll() waits for state that another part (a server, a store's group commit, a
    // process) reaches by itself; vitest's default of 1 s is short on a loaded 2-core machine.
    // A poll returns as soon as it holds, so only a failing one waits longer.
    expect: { poll: { timeout: 10_000 } },
    projects: [
      {
        extends: true,
        // 30 s: unit tests run on ManualClock, so the real-time limit only matters when a CPU-bound
        // test (a fuzz loop) is starved on a loaded machine.
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 30_000 },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 30_000,
          // Hooks stop real processes (serve, relay/stun workers, redis, coturn); vitest's 10 s
          // default failed a CI run once on a loaded machine (relay-workers' afterEach).
          hookTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          // Attack tests (issue: hardening): each performs an attack end to end against a real
          // `natpush serve` and asserts it is refused or bounded.
          name: 'security',
          include: ['test/security/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'netsim',
          include: ['test/netsim/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'interop',
          include: ['test/interop/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
