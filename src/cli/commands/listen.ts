import type { CommandModule } from 'yargs';
import { Peer } from '../../peer/peer.js';
import { withPeerOptions, type PeerArgs } from '../peer-options.js';

interface ListenArgs extends PeerArgs {
  count?: number;
}

/** `natpush listen`: print notifications as they arrive, until Ctrl-C (or `--count` of them). */
export const listenCommand: CommandModule<object, ListenArgs> = {
  command: 'listen',
  describe: 'Receive notifications and print them as they arrive',
  builder: (y) =>
    withPeerOptions(y).option('count', { type: 'number', describe: 'exit after this many' }),
  handler: async (a) => {
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    // Keep the process alive between reconnect attempts (the library's timers do not).
    const keepAlive = setInterval(() => {}, 1 << 30);
    try {
      const peer = await Peer.connect({
        server: a.server,
        identity: a.identity,
        signal: stop.signal,
        ...(a['peer-token'] ? { peerToken: a['peer-token'] } : {}),
      });
      const say = (o: object, text: string) => console.error(a.json ? JSON.stringify(o) : text);
      say(
        { event: 'listening', peer: peer.id, server: a.server },
        `listening as ${peer.id} on ${a.server}`,
      );
      peer.on('disconnected', (e) =>
        say({ event: 'disconnected', code: e.code }, `disconnected (${e.code}), reconnecting`),
      );
      peer.on('connected', () => say({ event: 'connected' }, 'connected'));
      let n = 0;
      for await (const m of peer.notifications({ signal: stop.signal })) {
        if (a.json) console.log(JSON.stringify(m));
        else
          console.log(
            `${new Date(m.ts).toISOString()} ${m.from}${m.topic ? ` [${m.topic}]` : ''}: ${m.body}`,
          );
        if (a.count !== undefined && ++n >= a.count) break;
      }
      await peer.close();
    } finally {
      clearInterval(keepAlive);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};
