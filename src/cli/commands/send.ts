import type { CommandModule } from 'yargs';
import { Peer } from '../../peer/peer.js';
import { asPeerCommand } from '../errors.js';
import { regionOption, withPeerOptions, type PeerArgs } from '../peer-options.js';

interface SendArgs extends PeerArgs {
  peer: string;
  message: string;
  topic?: string;
  ttl?: number;
  wait: number;
  timeout: number;
}

/**
 * `natpush send PEER MESSAGE`: send one notification; report the path it took and the ack.
 * Exit codes (errors.ts EXIT): 0 delivered or stored, 3 server unreachable within --timeout,
 * 4 refused by the server, 5 reached but not accepted within --timeout.
 */
export const sendCommand: CommandModule<object, SendArgs> = {
  command: 'send <peer> <message>',
  describe: 'Send a notification to a peer and report the path used and the ack',
  builder: (y) =>
    withPeerOptions(y)
      .positional('peer', { type: 'string', demandOption: true, describe: 'recipient peer id' })
      .positional('message', { type: 'string', demandOption: true, describe: 'notification body' })
      .option('topic', { type: 'string' })
      .option('ttl', {
        type: 'number',
        describe: 'seconds the server keeps it for an offline peer',
      })
      .option('wait', {
        type: 'number',
        default: 5000,
        describe: 'ms to wait for the recipient ack (then it counts as stored)',
      })
      .option('timeout', {
        type: 'number',
        default: 10_000,
        describe: 'ms to reach the server (exit 3), and again for it to accept (exit 5)',
      })
      .check((a) => {
        // A string (not a throw) makes yargs report a usage error: exit 2.
        if (!(a.timeout > 0)) return '--timeout must be > 0 ms';
        if (!(a.wait >= 0)) return '--wait must be >= 0 ms';
        return true;
      }),
  handler: (a) =>
    asPeerCommand(async () => {
      const peer = await Peer.connect({
        server: a.server,
        identity: a.identity,
        connectTimeoutMs: a.timeout,
        // One notification and exit: no time for a session to move up to UDP; the sealed server
        // rungs carry it (a long-lived Peer in a program gets relay/direct paths).
        direct: false,
        ...(a['peer-token'] ? { peerToken: a['peer-token'] } : {}),
        ...regionOption(a),
      });
      try {
        const r = await peer.notify(a.peer, a.message, {
          deliveryTimeoutMs: a.wait,
          timeoutMs: a.timeout,
          ...(a.topic !== undefined ? { topic: a.topic } : {}),
          ...(a.ttl !== undefined ? { ttl: a.ttl } : {}),
        });
        if (a.json) console.log(JSON.stringify(r));
        else if (r.status === 'delivered')
          console.log(
            `delivered ${r.id} to ${r.to} via ${r.path}${r.via ? ` (${r.via})` : ''} in ${r.elapsedMs} ms`,
          );
        else
          console.log(
            `stored ${r.id} for ${r.to} in the mailbox (path ${r.path}), acked by the server in ${r.elapsedMs} ms`,
          );
      } finally {
        await peer.close();
      }
    }),
};
