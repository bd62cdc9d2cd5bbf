#!/usr/bin/env node
/**
 * The `natpush` command. Each subcommand lives in its own file under ./commands and turns
 * strings into typed options at this edge (STYLE.md §5); components never read argv or env.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { commands } from './commands/index.js';
import { exitCodeFor, formatError } from './errors.js';

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
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`natpush: ${msg}\nSee natpush --help.\n`);
      process.exit(2);
    });
  for (const c of commands) cli = cli.command(c);
  await cli.parseAsync();
}

main(hideBin(process.argv)).catch((err: unknown) => {
  process.stderr.write(formatError(err) + '\n');
  process.exit(exitCodeFor(err));
});
