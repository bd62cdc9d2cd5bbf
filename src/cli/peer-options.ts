/** Options shared by the peer commands (`id`, `listen`, `send`), parsed at the CLI edge. */
import type { Argv } from 'yargs';
import { defaultIdentityPath } from '../peer/identity-file.js';
import { DEFAULT_PORT } from '../signaling/constants.js';

export interface PeerArgs {
  server: string;
  identity: string;
  'peer-token'?: string;
  json: boolean;
}

export function withPeerOptions<T>(y: Argv<T>) {
  return y
    .option('server', {
      type: 'string',
      describe: 'natpush server URL ($NATPUSH_SERVER)',
      default: process.env.NATPUSH_SERVER ?? `http://127.0.0.1:${DEFAULT_PORT}`,
    })
    .option('identity', {
      type: 'string',
      describe: 'identity file (Ed25519 key, created on first use, mode 0600)',
      default: process.env.NATPUSH_IDENTITY ?? defaultIdentityPath(),
    })
    .option('peer-token', {
      type: 'string',
      describe: 'admission token, if the server requires one',
    })
    .option('json', { type: 'boolean', default: false, describe: 'JSON lines instead of text' });
}
