import type { CommandModule } from 'yargs';
import { defaultIdentityPath, loadOrCreateIdentity } from '../../peer/identity-file.js';

interface IdArgs {
  identity: string;
  json: boolean;
}

/** `natpush id`: show this machine's peer id, creating the identity on first use. */
export const idCommand: CommandModule<object, IdArgs> = {
  command: 'id',
  describe: 'Show (and on first use create) this peer identity',
  builder: (y) =>
    y
      .option('identity', {
        type: 'string',
        describe: 'identity file',
        default: process.env.NATPUSH_IDENTITY ?? defaultIdentityPath(),
      })
      .option('json', { type: 'boolean', default: false }),
  handler: (a) => {
    const { identity, path, created } = loadOrCreateIdentity(a.identity);
    if (a.json) {
      console.log(
        JSON.stringify({ peer: identity.peerId, publicKey: identity.publicKey, path, created }),
      );
      return;
    }
    console.log(identity.peerId);
    console.error(`${created ? 'created' : 'identity'} ${path} (public key ${identity.publicKey})`);
  },
};
