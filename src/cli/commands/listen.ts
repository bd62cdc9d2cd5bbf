import type { CommandModule } from 'yargs';
import { Peer, type ReceivedNotification } from '../../peer/peer.js';
import type { RetryInfo } from '../../signaling/client.js';
import { asPeerCommand } from '../errors.js';
import {
  parseAllow,
  withAllowOption,
  regionOption,
  udpIoOption,
  withPeerOptions,
  type PeerArgs,
} from '../peer-options.js';
import type { AllowPolicy } from '../../peer/contacts.js';
import { escapeTerminalText } from '../../util/terminal-text.js';

interface ListenArgs extends PeerArgs {
  count?: number;
  allow?: string;
}

/**
 * One notification, one line. Text mode escapes every control and bidi character of the fields
 * other people chose (terminal-text.ts), so nothing can forge a line; JSON mode is JSON.
 */
export function formatNotification(m: ReceivedNotification, json: boolean): string {
  if (json) return JSON.stringify(m);
  const topic = m.topic ? ` [${escapeTerminalText(m.topic)}]` : '';
  return `${new Date(m.ts).toISOString()} ${escapeTerminalText(m.from)}${topic}: ${escapeTerminalText(m.body)}`;
}

/** "cannot reach …; next attempt in 2.4 s": the user must never wonder why nothing happens. */
export function formatRetry(server: string, r: RetryInfo): string {
  return (
    `natpush: cannot reach ${server} (${escapeTerminalText(r.error.message)}); ` +
    `retrying, next attempt in ${(r.delayMs / 1000).toFixed(1)} s (retry ${r.attempt})`
  );
}

/** `natpush listen`: print notifications as they arrive, until Ctrl-C (or `--count` of them). */
export const listenCommand: CommandModule<object, ListenArgs> = {
  command: 'listen',
  describe: 'Receive notifications and print them as they arrive',
  builder: (y) =>
    withAllowOption(withPeerOptions(y))
      .option('count', { type: 'number', describe: 'exit after this many (>= 1)' })
      .check((a) => {
        if (a.count !== undefined && !(Number.isInteger(a.count) && a.count >= 1))
          return `--count must be a whole number >= 1, got ${a.count}`;
        const allow = parseAllow(a.allow);
        return typeof allow === 'object' && 'error' in allow ? allow.error : true;
      }),
  handler: (a) =>
    asPeerCommand(async () => {
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      // Keep the process alive between reconnect attempts (the library's timers do not).
      const keepAlive = setInterval(() => {}, 1 << 30);
      const say = (o: object, text: string) => console.error(a.json ? JSON.stringify(o) : text);
      try {
        const peer = Peer.open({
          server: a.server,
          identity: a.identity,
          signal: stop.signal,
          warmDirect: true, // candidates ready before the first punch (Peer docs)
          portmap: a.portmap,
          ...udpIoOption(a),
          ...(a.allow !== undefined ? { allow: parseAllow(a.allow) as AllowPolicy } : {}),
          ...(a['peer-token'] ? { peerToken: a['peer-token'] } : {}),
          ...regionOption(a),
        });
        peer.on('reconnecting', (r) =>
          say(
            {
              event: 'retrying',
              server: a.server,
              code: r.error.code,
              error: r.error.message,
              attempt: r.attempt,
              inMs: r.delayMs,
            },
            formatRetry(a.server, r),
          ),
        );
        try {
          await peer.ready();
        } catch (e) {
          if (stop.signal.aborted) return; // Ctrl-C while still trying: not an error
          throw e;
        }
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
          console.log(formatNotification(m, a.json));
          if (a.count !== undefined && ++n >= a.count) break;
        }
        await peer.close();
      } finally {
        clearInterval(keepAlive);
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    }),
};
