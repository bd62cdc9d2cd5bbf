/**
 * `natpush stun --listen HOST:PORT [--alternate [HOST][:PORT]] [--tcp] [--workers N]` — run the
 * STUN server alone (RFC 8489 Binding, RFC 5780 CHANGE-REQUEST with an alternate address/port).
 * The options and the composition live in src/server (stun-options.ts, create-stun.ts).
 */
import type { CommandModule } from 'yargs';
import type { Endpoint } from '../../net/udp.js';
import { createStun, type Stun } from '../../server/create-stun.js';
import { withFlags } from '../../server/options-schema.js';
import { stunSchema, type StunArgs } from '../../server/stun-options.js';
import { stopAndExit, untilSignal } from '../shutdown.js';

export {
  parseAlternate,
  stunServerOptions as stunOptionsFromArgs,
} from '../../server/stun-options.js';
export type { StunArgs as StunCommandArgs } from '../../server/stun-options.js';

/** Start the server and report where it listens; resolves to the running server. */
export async function runStun(args: StunArgs, out: (line: string) => void): Promise<Stun> {
  const stun = await createStun(args);
  const a = stun.addresses();
  const udp = a.udp.map((e) => `udp ${fmt(e)}`);
  const workers = stun.pool ? ` (${stun.pool.ready.length} workers)` : '';
  out(
    `natpush stun: listening on ${[...udp, ...(a.tcp ? [`tcp ${fmt(a.tcp)}`] : [])].join(', ')}${workers}`,
  );
  if (a.other) out(`natpush stun: RFC 5780 OTHER-ADDRESS ${fmt(a.other)}`);
  if (stun.metrics) out(`natpush stun: metrics at ${stun.metrics.url}`);
  return stun;
}

function fmt(e: Endpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

export const stunCommand: CommandModule<object, StunArgs> = {
  command: 'stun',
  describe: 'Run a STUN server (RFC 8489 Binding; RFC 5780 with --alternate)',
  builder: (y) =>
    withFlags<StunArgs>(y, stunSchema)
      .example(
        '$0 stun --listen 203.0.113.1:3478 --alternate 203.0.113.2:3479',
        'full RFC 5780 server',
      )
      .example('$0 stun --listen 127.0.0.1:3478 --alternate :3479', 'alternate port only') as never,
  handler: async (args) => {
    const stun = await runStun(args, (l) => console.log(l));
    await untilSignal();
    await stopAndExit('stun', async () => {
      const stats = await stun.counters();
      await stun.close();
      console.log(`natpush stun: stopped; ${JSON.stringify(stats)}`);
    });
  },
};
