import type { CommandModule } from 'yargs';
import { stunCommand } from './stun.js';

/**
 * Every subcommand, one module each. Add yours here with a single line.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [stunCommand];
