/**
 * `--help` / `-h` for the benchmarks: print the usage and exit 0 before anything starts (no
 * server, no coturn, no load generator). Called first thing in a bench's module body, so its
 * top-level `await`s and `main()` never run. Every relay and STUN bench prints the same usage its
 * file comment shows, so the two cannot drift apart unnoticed (test/integration/relay/
 * bench-help.test.ts runs each with --help).
 */
export function exitOnHelp(usage: string): void {
  const args = process.argv.slice(2);
  if (!args.includes('--help') && !args.includes('-h')) return;
  // Synchronous for files and pipes on Linux, so nothing is lost to the exit below.
  process.stdout.write(`${usage.trim()}\n`);
  process.exit(0);
}
