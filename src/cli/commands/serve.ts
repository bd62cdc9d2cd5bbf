/**
 * `natpush serve`: the whole server in one process with embedded defaults — no config needed.
 * The options (src/server/serve-options.ts) and the composition (src/server/create-serve.ts:
 * signaling, STUN and the TURN relay) live in src/server; this file prints and waits.
 */
import type { CommandModule } from 'yargs';
import { createServe, type ServeDeps, type Service } from '../../server/create-serve.js';
import { withFlags } from '../../server/options-schema.js';
import { serveSchema, type ServeArgs } from '../../server/serve-options.js';
import { jsonLogger, type Logger } from '../../util/logger.js';
import { stopAndExit, untilSignal } from '../shutdown.js';

export { defaultDataDir, type ServeArgs } from '../../server/serve-options.js';
export { type ServeDeps, type Service } from '../../server/create-serve.js';
export { refuseOpenRelay, serveSecrets, type ServeSecrets } from '../../server/serve-secrets.js';

/** Start every part of `serve` (tests call this; the CLI handler below does the same). */
export async function startServices(
  a: ServeArgs,
  logger: Logger,
  deps: Omit<ServeDeps, 'logger'> = {},
): Promise<{ services: Service[]; apiKeyFile?: string }> {
  const serve = await createServe(a, { ...deps, logger });
  return {
    services: serve.services,
    ...(serve.apiKeyFile ? { apiKeyFile: serve.apiKeyFile } : {}),
  };
}

export const serveCommand: CommandModule<object, ServeArgs> = {
  command: 'serve',
  describe: 'Run the natpush server (signaling, HTTP API, mailbox) with embedded defaults',
  builder: (y) => withFlags<ServeArgs>(y, serveSchema),
  handler: async (a) => {
    const logger = jsonLogger(a['log-level'] ?? 'info');
    const serve = await createServe(a, { logger });
    for (const s of serve.services)
      for (const e of s.endpoints) console.log(`natpush serve: ${s.name} listening on ${e}`);
    if (serve.apiKeyFile) console.log(`natpush serve: API key in ${serve.apiKeyFile}`);
    const sig = await untilSignal();
    console.log(`natpush serve: ${sig}, shutting down`);
    await stopAndExit('serve', async () => {
      await serve.close();
      console.log('natpush serve: stopped');
    });
  },
};
