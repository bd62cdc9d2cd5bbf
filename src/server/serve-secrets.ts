/**
 * serve's secrets (API keys, peer tokens, the TURN secret), resolved at the edge from flags, files
 * and the environment, and the one set-up they must not leave open: a relay for anyone
 * (refuseOpenRelay). createServe (create-serve.ts) reads them before it starts anything.
 */
import { isIP } from 'node:net';
import { RELAY_CONFIG_ERR } from '../relay/index.js';
import { NatpushError } from '../util/errors.js';
import { generatedSecret, secretValues, SECRET_ENV, type Warn } from './secrets.js';
import type { ServeOptions } from './serve-options.js';

/** serve's secrets, resolved at the edge from flags, files and the environment. */
export interface ServeSecrets {
  apiKeys: string[];
  peerTokens: string[];
  turnSecret: string | undefined;
}

/**
 * Issue 8, finding 11: secrets never need argv. Each comes from its `--*-file` (one per line) or
 * its environment variable; the old flags still work, with a warning on stderr. Values from all
 * given sources are combined.
 */
export function serveSecrets(a: ServeOptions, env: NodeJS.ProcessEnv, warn: Warn): ServeSecrets {
  const turn = secretValues(
    'turn-secret',
    a['turn-secret'] !== undefined ? [a['turn-secret']] : undefined,
    a['turn-secret-file'],
    SECRET_ENV.turnSecret,
    env,
    warn,
  );
  return {
    apiKeys: secretValues('api-key', a['api-key'], a['api-key-file'], SECRET_ENV.apiKey, env, warn),
    peerTokens: secretValues(
      'peer-token',
      a['peer-token'],
      a['peer-token-file'],
      SECRET_ENV.peerToken,
      env,
      warn,
    ),
    turnSecret: turn[0],
  };
}

/**
 * With no API key given, one is generated once into the data directory (mode 0600) so HTTP
 * posting works out of the box without ever being open to anyone.
 */
export function generatedApiKey(dataDir: string): { keys: string[]; file: string } {
  const { value, file } = generatedSecret(dataDir, 'api-key', 24);
  return { keys: [value], file };
}

function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'));
}

/**
 * Issue 8, finding 3: refuse to run an open relay. It would be one when the relay is reachable
 * from other hosts (non-loopback --host), anyone may register (no --peer-token) and the peer gate
 * that limits relaying to natpush peers in rendezvous is off — unless the operator says so.
 */
export function refuseOpenRelay(
  a: Pick<ServeOptions, 'relay' | 'relay-peer-gate' | 'host' | 'open-relay-i-know'>,
  secrets: Pick<ServeSecrets, 'peerTokens'>,
): void {
  if (!a.relay || a['relay-peer-gate'] || isLoopback(a.host)) return;
  if (secrets.peerTokens.length > 0 || a['open-relay-i-know']) return;
  throw new NatpushError(
    RELAY_CONFIG_ERR.OPEN_RELAY,
    `refusing to start: with --no-relay-peer-gate, open registration and --host ${a.host} the ` +
      'TURN relay would relay for anyone to any host. Keep the peer gate (the default), close ' +
      'registration with --peer-token, listen on loopback, run --no-relay, or pass ' +
      '--open-relay-i-know.',
  );
}
