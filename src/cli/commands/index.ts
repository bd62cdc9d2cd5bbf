import type { CommandModule } from 'yargs';
import { idCommand } from './id.js';
import { netsimCommand } from './netsim.js';
import { listenCommand } from './listen.js';
import { natCheckCommand } from './nat-check.js';
import { relayCommand } from './relay.js';
import { pingCommand } from './ping.js';
import { sendCommand } from './send.js';
import { serveCommand } from './serve.js';
import { stunCommand } from './stun.js';

/**
 * Every subcommand, one module each. Add yours here with a single line.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [
  serveCommand,
  idCommand,
  listenCommand,
  sendCommand,
  pingCommand,
  relayCommand,
  stunCommand,
  natCheckCommand,
  netsimCommand,
];
