#!/usr/bin/env node
/**
 * The `natpush` command. Each subcommand lives in its own file under ./commands and turns
 * strings into typed options at this edge (STYLE.md §5); components never read argv or env.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { loadCommands } from './commands/index.js';
import { EXIT, EXIT_CODES_HELP, exitCodeFor, formatError } from './errors.js';

export async function main(argv: string[]): Promise<void> {
  let cli = yargs(argv)
    .scriptName('natpush')
    .strict()
    .demandCommand(1, 'Give a command; see natpush --help.')
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .epilogue(EXIT_CODES_HELP)
    .fail((msg, err) => {
      // yargs' own validation (including a `.check()` returning a message) arrives as a YError:
      // a usage error. Anything else was thrown by a command and is reported by its code.
      if (err && err.name !== 'YError') throw err;
      process.stderr.write(`natpush: ${msg ?? err?.message}\nSee natpush --help.\n`);
      process.exit(EXIT.USAGE);
    });
  for (const c of await loadCommands(argv)) cli = cli.command(c);
  await cli.parseAsync();
}

main(hideBin(process.argv)).catch((err: unknown) => {
  process.stderr.write(formatError(err) + '\n');
  process.exit(exitCodeFor(err));
});
