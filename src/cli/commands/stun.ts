/**
 * `natpush stun --listen HOST:PORT [--alternate [HOST][:PORT]] [--tcp]` — run the STUN server
 * alone (RFC 8489 Binding, RFC 5780 CHANGE-REQUEST with an alternate address/port).
 */
import cluster from 'node:cluster';
import { isIP } from 'node:net';
import type { CommandModule } from 'yargs';
import type { Endpoint } from '../../net/udp.js';
import { parseEndpoint } from '../../net/udp.js';
import { StunServer } from '../../stun/server.js';
import type { StunServerOptions } from '../../stun/server.js';
import { NatpushError } from '../../util/errors.js';
import type { LogLevel } from '../../util/logger.js';
import { jsonLogger } from '../../util/logger.js';

export interface StunCommandArgs {
  listen: string;
  alternate?: string;
  tcp: boolean;
  'rate-limit': number;
  'log-level': LogLevel;
  workers?: number;
}

function usage(message: string): NatpushError {
  return new NatpushError('NATPUSH_ERR_USAGE', message);
}

/** `--alternate`: "HOST:PORT", "HOST" (another address, same port) or ":PORT" (same address). */
export function parseAlternate(
  text: string,
  listen: Endpoint,
): { address?: string; port?: number } {
  if (/^:\d+$/.test(text)) return { port: Number(text.slice(1)) };
  let alt: { address: string; port?: number };
  if (isIP(text)) alt = { address: text };
  else {
    try {
      alt = parseEndpoint(text);
    } catch {
      throw usage(`--alternate: expected HOST, HOST:PORT or :PORT, got ${JSON.stringify(text)}`);
    }
  }
  const wildcard = (a: string): boolean => a === '0.0.0.0' || a === '::';
  if (wildcard(alt.address) || wildcard(listen.address)) {
    throw usage(
      'RFC 5780 needs concrete addresses: give --listen and --alternate a specific IP, not a wildcard',
    );
  }
  return alt.port === undefined
    ? { address: alt.address }
    : { address: alt.address, port: alt.port };
}

export function stunOptionsFromArgs(args: StunCommandArgs): StunServerOptions {
  let listen: Endpoint;
  try {
    listen = parseEndpoint(args.listen, 3478);
  } catch (err) {
    throw usage(`--listen: ${(err as Error).message}`);
  }
  const options: StunServerOptions = {
    listen,
    tcp: args.tcp,
    logger: jsonLogger(args['log-level']),
    rateLimit:
      args['rate-limit'] > 0
        ? { perSecond: args['rate-limit'], burst: 2 * args['rate-limit'] }
        : false,
  };
  if (args.alternate) options.alternate = parseAlternate(args.alternate, listen);
  return options;
}

/** Start the server and report where it listens; resolves to the running server. */
export async function runStun(
  args: StunCommandArgs,
  out: (line: string) => void,
): Promise<StunServer> {
  const server = await StunServer.start(stunOptionsFromArgs(args));
  const udp = server.addresses().map((e) => `udp ${fmt(e)}`);
  const tcp = server.tcpAddress();
  out(`natpush stun: listening on ${[...udp, ...(tcp ? [`tcp ${fmt(tcp)}`] : [])].join(', ')}`);
  if (server.other) out(`natpush stun: RFC 5780 OTHER-ADDRESS ${fmt(server.other)}`);
  return server;
}

function fmt(e: Endpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

export const stunCommand: CommandModule<object, StunCommandArgs> = {
  command: 'stun',
  describe: 'Run a STUN server (RFC 8489 Binding; RFC 5780 with --alternate)',
  builder: (y) =>
    y
      .option('listen', {
        type: 'string',
        default: '0.0.0.0:3478',
        describe: 'Primary address HOST:PORT (UDP, and TCP with --tcp)',
      })
      .option('alternate', {
        type: 'string',
        describe: 'RFC 5780 alternate: HOST:PORT, HOST (same port) or :PORT (same host)',
      })
      .option('tcp', { type: 'boolean', default: true, describe: 'Also serve Binding over TCP' })
      .option('rate-limit', {
        type: 'number',
        default: 200,
        describe: 'Requests per second per source IP (burst 2x); 0 disables',
      })
      .option('workers', {
        type: 'number',
        default: 1,
        describe:
          'Processes sharing the sockets (node:cluster; the kernel spreads datagrams); needs fixed ports',
      })
      .option('log-level', {
        choices: ['debug', 'info', 'warn', 'error'] as const,
        default: 'warn' as LogLevel,
      })
      .example(
        '$0 stun --listen 203.0.113.1:3478 --alternate 203.0.113.2:3479',
        'full RFC 5780 server',
      )
      .example('$0 stun --listen 127.0.0.1:3478 --alternate :3479', 'alternate port only') as never,
  handler: async (args) => {
    const workers = args.workers ?? 1;
    if (workers > 1 && cluster.isPrimary) return runPrimary(args, workers);
    const server = await runStun(args, (l) => console.log(l));
    await untilSignal();
    await server.close();
    console.log(`natpush stun: stopped; ${JSON.stringify(server.stats)}`);
    // A cluster worker's IPC channel to the primary would keep it alive after a clean close.
    if (cluster.isWorker) process.exit(0);
  },
};

function untilSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}

/**
 * Several processes on the same sockets: node:cluster hands every worker the primary's UDP
 * handle, so all read one kernel queue — one core per worker, no load balancer in between.
 */
async function runPrimary(args: StunCommandArgs, workers: number): Promise<void> {
  if (!Number.isInteger(workers) || workers > 64) throw usage('--workers must be an integer 1..64');
  const options = stunOptionsFromArgs(args);
  if (options.listen.port === 0 || options.alternate?.port === 0) {
    throw usage('--workers needs fixed ports (port 0 would give every worker its own)');
  }
  const children = Array.from({ length: workers }, () => cluster.fork());
  const exited = children.map((c) => new Promise<void>((r) => c.once('exit', () => r())));
  await untilSignal();
  for (const c of children) c.process.kill('SIGTERM');
  await Promise.all(exited);
}
