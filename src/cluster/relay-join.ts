/**
 * The hook create-relay.ts calls: with `--redis` (or $NATPUSH_REDIS_URL) the composed relay —
 * one process or a worker pool, the same `counters()` either way — registers with the cluster
 * (relay-registration.ts), and closing the relay deregisters it first, so serve nodes stop
 * handing it out before it stops answering.
 */
import { defaultRelayAddress } from '../server/relay-options.js';
import type { Logger } from '../util/logger.js';
import { registerRelay, defaultRelayUrls, type RelayRegistration } from './relay-registration.js';

/** What the hook needs of a composed relay (create-relay.ts `Relay`). */
export interface JoinableRelay {
  addresses(): { udp: { port: number }; tcp?: { port: number } };
  counters(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/** The relay options the hook reads (relay-options.ts + options-schema.ts relayFleetOptions). */
export interface RelayJoinOptions {
  redis?: string | undefined;
  region?: string | undefined;
  'public-url'?: string[] | undefined;
  'external-address'?: string | undefined;
  'relay-address'?: string | undefined;
  listen: string;
}

export async function joinRelayFleet<R extends JoinableRelay>(
  relay: R,
  o: RelayJoinOptions,
  deps: { env?: NodeJS.ProcessEnv; logger: Logger },
): Promise<R & { registration?: RelayRegistration }> {
  const redisUrl = o.redis ?? deps.env?.NATPUSH_REDIS_URL;
  if (!redisUrl) return relay;
  const host =
    o['external-address'] ??
    (o.listen !== '0.0.0.0' && o.listen !== '::' ? o.listen : undefined) ??
    o['relay-address'] ??
    defaultRelayAddress(o.listen);
  const urls = o['public-url']?.length
    ? o['public-url']
    : defaultRelayUrls(host, relay.addresses());
  let registration: RelayRegistration;
  try {
    registration = await registerRelay({
      redisUrl,
      urls,
      region: o.region,
      load: () => relay.counters(),
      logger: deps.logger,
    });
  } catch (err) {
    await relay.close();
    throw err;
  }
  const close = relay.close.bind(relay);
  return Object.assign(relay, {
    registration,
    close: async () => {
      await registration.close();
      await close();
    },
  });
}
