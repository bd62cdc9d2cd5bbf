/**
 * `natpush relay`: run the TURN server (RFC 8656) alone; `natpush relay mint <user>`: print
 * short-lived TURN credentials for a shared secret (coturn `use-auth-secret` format). The options
 * and the composition live in src/server (relay-options.ts, create-relay.ts).
 *
 * Never an open relay: the command refuses to start without `--secret`/`--secret-file` or at
 * least one `--user name:password`.
 */
import type { Argv, CommandModule } from 'yargs';
import {
  DEFAULT_CREDENTIAL_TTL_S,
  mintTurnCredentials,
  type TurnServer,
} from '../../relay/index.js';
import { createRelay } from '../../server/create-relay.js';
import { parseOptions, withFlags } from '../../server/options-schema.js';
import { relaySchema, type RelayArgs } from '../../server/relay-options.js';
import { relaySecret } from '../../server/relay-credentials.js';
import { argvSecretWarning, SECRET_ENV, type Warn } from '../../server/secrets.js';
import { jsonLogger } from '../../util/logger.js';
import { usageError } from '../errors.js';
import { stopAndExit, untilSignal } from '../shutdown.js';

// Still imported from here by tests and serve's users; they live in src/server now.
export { startServeRelay, turnSecret, type ServeRelayOptions } from '../../server/serve-relay.js';
export { defaultRelayAddress, type RelayArgs } from '../../server/relay-options.js';
export { relayCredentials as credentialsFrom } from '../../server/relay-credentials.js';

const stderrWarn: Warn = (line) => void process.stderr.write(line + '\n');

/** The relay's flags, derived from its schema (src/server/relay-options.ts). */
export function relayOptions(y: Argv): Argv<RelayArgs> {
  return withFlags<RelayArgs>(y, relaySchema);
}

/** Warn about each secret given on argv (it keeps working). */
function warnArgvSecrets(args: { secret?: string | undefined; user?: string[] }, warn: Warn): void {
  if (args.secret !== undefined)
    warn(argvSecretWarning('--secret', `--secret-file or $${SECRET_ENV.turnSecret}`));
  if ((args.user ?? []).length > 0) warn(argvSecretWarning('--user', `$${SECRET_ENV.turnUsers}`));
}

/** One relay process from parsed arguments; resolves once listening. */
export async function startRelay(
  args: RelayArgs,
  env: NodeJS.ProcessEnv = process.env,
): Promise<TurnServer> {
  const relay = await createRelay({ ...args, workers: 1 }, { env, warn: stderrWarn });
  return relay.server!;
}

const mint: CommandModule<
  object,
  { user: string; secret?: string; 'secret-file'?: string; ttl: number }
> = {
  command: 'mint <user>',
  describe: 'print short-lived TURN credentials for <user> (JSON: username, password, ttl)',
  builder: (y) =>
    y
      .positional('user', { type: 'string', demandOption: true })
      .option('secret', { type: 'string', describe: 'visible in argv: prefer --secret-file' })
      .option('secret-file', { type: 'string', describe: `default: $${SECRET_ENV.turnSecret}` })
      .option('ttl', { type: 'number', default: DEFAULT_CREDENTIAL_TTL_S }) as never,
  handler: (args) => {
    warnArgvSecrets({ secret: args.secret }, stderrWarn);
    const secret = relaySecret(args, process.env, stderrWarn);
    if (!secret) throw usageError(`mint needs --secret-file or $${SECRET_ENV.turnSecret}`);
    console.log(JSON.stringify(mintTurnCredentials(secret, args.user, args.ttl)));
  },
};

const run: CommandModule<object, RelayArgs> = {
  command: '$0',
  describe: 'run the TURN relay',
  builder: relayOptions,
  handler: async (args) => {
    const o = parseOptions(relaySchema, args);
    warnArgvSecrets(o, stderrWarn);
    const relay = await createRelay(o, { env: process.env, warn: stderrWarn });
    const log = jsonLogger(o['log-level']);
    const a = relay.addresses();
    console.log(`natpush relay: turn listening on ${a.udp.address}:${a.udp.port} (udp)`);
    if (a.tcp) console.log(`natpush relay: turn listening on ${a.tcp.address}:${a.tcp.port} (tcp)`);
    if (relay.registration)
      console.log(`natpush relay: registered with the cluster as ${relay.registration.id}`);
    if (relay.metrics) log.info('turn relay metrics', { url: relay.metrics.url });
    let statsTimer: NodeJS.Timeout | undefined;
    if (o['stats-interval'] > 0) {
      statsTimer = setInterval(() => {
        void relay.counters().then((c) => log.info('turn relay counters', c));
      }, o['stats-interval'] * 1000);
    }
    await untilSignal();
    if (statsTimer) clearInterval(statsTimer);
    await stopAndExit('relay', () => relay.close());
  },
};

export const relayCommand: CommandModule = {
  command: 'relay',
  describe: 'TURN relay server (RFC 8656) over UDP and TCP, with TURN REST credentials',
  builder: (y) => y.command(run as CommandModule).command(mint as CommandModule),
  handler: () => {},
};
