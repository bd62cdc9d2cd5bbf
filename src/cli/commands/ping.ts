import type { CommandModule } from 'yargs';
import { Peer, type DeliveryPath } from '../../peer/peer.js';
import { NatpushError } from '../../util/errors.js';
import { asPeerCommand, CLI_ERR } from '../errors.js';
import { regionOption, udpIoOption, withPeerOptions, type PeerArgs } from '../peer-options.js';
import { escapeTerminalText } from '../../util/terminal-text.js';

interface PingArgs extends PeerArgs {
  peer: string;
  count: number;
  interval: number;
  timeout: number;
  'until-direct': boolean;
}

/**
 * `natpush ping PEER`, like `tailscale ping`: authenticated pings through the end-to-end session
 * with PEER, each pong printed with the path it took and its round trip, so the ladder moving up
 * shows as it happens ("via server-routed 60 ms … via relay 48 ms … via direct 21 ms"), and a
 * failed punch says why. Stops after `--count` pongs, or at the first direct pong (`--until-direct`,
 * default). The remote must allow this peer (`natpush listen --allow …`), or the server drops the
 * session's frames unanswered (an answer would tell a stranger the peer is online).
 * Exit: 0 some pong came back, 5 none did, 3 server unreachable, 4 refused (e.g. unknown peer).
 */
export const pingCommand: CommandModule<object, PingArgs> = {
  command: 'ping <peer>',
  describe: 'Ping a peer through its end-to-end session; show each pong’s path and round trip',
  builder: (y) =>
    withPeerOptions(y)
      .positional('peer', { type: 'string', demandOption: true, describe: 'peer id' })
      .option('count', { type: 'number', default: 10, describe: 'pings to send (>= 1)' })
      .option('interval', { type: 'number', default: 1000, describe: 'ms between pings' })
      .option('timeout', {
        type: 'number',
        default: 10_000,
        describe: 'ms to reach the server (exit 3); each ping waits up to 5 s for its pong',
      })
      .option('until-direct', {
        type: 'boolean',
        default: true,
        describe: 'stop at the first pong over a direct path',
      })
      .check((a) => {
        if (!(Number.isInteger(a.count) && a.count >= 1))
          return `--count must be a whole number >= 1, got ${a.count}`;
        if (!(a.interval >= 0)) return '--interval must be >= 0 ms';
        if (!(a.timeout > 0)) return '--timeout must be > 0 ms';
        return true;
      }),
  handler: (a) =>
    asPeerCommand(async () => {
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      const say = (o: object, text: string) => console.log(a.json ? JSON.stringify(o) : text);
      const peer = await Peer.connect({
        server: a.server,
        identity: a.identity,
        connectTimeoutMs: a.timeout,
        allow: [a.peer],
        warmDirect: true, // candidates ready before the first punch (Peer docs)
        portmap: a.portmap,
        ...udpIoOption(a),
        ...(a['peer-token'] ? { peerToken: a['peer-token'] } : {}),
        ...regionOption(a),
      });
      const keepAlive = setInterval(() => {}, 1 << 30);
      let pongs = 0;
      let last: DeliveryPath | undefined;
      try {
        peer.on('punch', (e) => {
          if (e.peer !== a.peer) return;
          if (e.ok)
            say(
              { event: 'punch', peer: e.peer, ok: true, kind: e.kind, rttMs: e.rttMs },
              `punched a ${e.kind} path to ${e.peer}${e.rttMs !== undefined ? ` (check round trip ${Math.round(e.rttMs)} ms)` : ''}`,
            );
          else
            say(
              { event: 'punch', peer: e.peer, ok: false, error: e.error },
              `direct path to ${e.peer} failed: ${escapeTerminalText(e.error ?? 'unknown')}`,
            );
        });
        peer.on('path', (e) => {
          if (e.peer !== a.peer || !e.reason) return;
          say(
            { event: 'path', peer: e.peer, path: e.path, reason: e.reason },
            `path to ${e.peer} fell back to ${e.path}: ${escapeTerminalText(e.reason)}`,
          );
        });
        for (let seq = 1; seq <= a.count && !stop.signal.aborted; seq++) {
          const started = Date.now();
          try {
            const r = await peer.ping(a.peer, { timeoutMs: 5_000 });
            pongs++;
            const ms = Math.round(r.rttMs);
            say(
              { event: 'pong', peer: a.peer, seq, path: r.path, rttMs: r.rttMs },
              `pong from ${a.peer} via ${r.path} in ${ms} ms${last && last !== r.path ? ` (was ${last})` : ''}`,
            );
            last = r.path;
            if (a['until-direct'] && r.path === 'direct') break;
          } catch (err) {
            if (err instanceof NatpushError && err.code === 'NATPUSH_ERR_UNKNOWN_PEER') throw err;
            say(
              { event: 'timeout', peer: a.peer, seq, error: String(err) },
              `no pong from ${a.peer} (${escapeTerminalText(err instanceof Error ? err.message : String(err))})`,
            );
          }
          const wait = a.interval - (Date.now() - started);
          if (seq < a.count && wait > 0)
            await new Promise<void>((r) => {
              const t = setTimeout(r, wait);
              stop.signal.addEventListener('abort', () => (clearTimeout(t), r()), { once: true });
            });
        }
        if (pongs === 0)
          throw new NatpushError(
            CLI_ERR.PING_TIMEOUT,
            `no pong from ${a.peer}: is it online, and does it allow you (natpush listen --allow ${peer.id})?`,
          );
      } finally {
        clearInterval(keepAlive);
        process.off('SIGINT', onSignal);
        await peer.close();
      }
    }),
};
