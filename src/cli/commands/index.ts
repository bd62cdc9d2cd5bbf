import type { CommandModule } from 'yargs';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyCommand = CommandModule<any, any>;

/**
 * Every subcommand, one module each, by name. Add yours here with a single line. A module is
 * loaded only when its command is named (main.ts), so a server process does not carry the others'
 * dependencies: `natpush stun` idle RSS was 96 MiB with every command loaded (serve's store and
 * Redis client, the peer stack), 62 MiB with its own (Node 20).
 */
export const commandLoaders: Record<string, () => Promise<AnyCommand>> = {
  serve: async () => (await import('./serve.js')).serveCommand,
  id: async () => (await import('./id.js')).idCommand,
  listen: async () => (await import('./listen.js')).listenCommand,
  send: async () => (await import('./send.js')).sendCommand,
  ping: async () => (await import('./ping.js')).pingCommand,
  relay: async () => (await import('./relay.js')).relayCommand,
  stun: async () => (await import('./stun.js')).stunCommand,
  'nat-check': async () => (await import('./nat-check.js')).natCheckCommand,
  netsim: async () => (await import('./netsim.js')).netsimCommand,
};

/** The named command's module only, or all of them (top-level help, an unknown name). */
export function loadCommands(argv: string[]): Promise<AnyCommand[]> {
  const first = argv.find((a) => !a.startsWith('-'));
  const named = first !== undefined ? commandLoaders[first] : undefined;
  return Promise.all(named ? [named()] : Object.values(commandLoaders).map((load) => load()));
}
