/**
 * `natpush stun`'s options: the one schema and what it turns into (StunServerOptions).
 */
import { z } from 'zod';
import type { Endpoint } from '../net/index.js';
import { parseHostPort, splitHostPort } from '../net/host-port.js';
import { SERVER_DEFAULTS } from '../stun/constants.js';
import type { StunServerOptions } from '../stun/index.js';
import type { Logger } from '../util/logger.js';
import { jsonLogger } from '../util/logger.js';
import { optionError } from './errors.js';
import { logLevel, metricsOptions } from './options-schema.js';
import { MAX_WORKERS } from './workers/constants.js';

export const stunSchema = z.object({
  listen: z
    .string()
    .min(1)
    .default('0.0.0.0:3478')
    .describe('Primary address HOST:PORT (UDP, and TCP with --tcp)'),
  alternate: z
    .string()
    .optional()
    .describe('RFC 5780 alternate: HOST:PORT, HOST (same port) or :PORT (same host)'),
  tcp: z.boolean().default(true).describe('Also serve Binding over TCP'),
  'rate-limit': z
    .number()
    .min(0)
    .default(200)
    .describe(
      'Requests per second per source IP (burst 2x), for the whole server (each of --workers N enforces 1/N); 0 disables',
    ),
  'reply-budget': z
    .number()
    .min(1)
    .finite()
    .default(SERVER_DEFAULTS.replyBytesPerSecond)
    .describe(
      'UDP replies of all sources together, bytes/s on the wire (a second of burst), per process: ' +
        'each of --workers N has its own; bounds what a flood with spoofed sources can reflect',
    ),
  workers: z
    .number()
    .int()
    .min(1)
    .max(MAX_WORKERS)
    .default(1)
    .describe(
      'Processes answering on the same ports: with Node >= 22.12 each binds them with SO_REUSEPORT ' +
        '(the kernel spreads clients); on Node 20 they share one socket (node:cluster; Binding is stateless)',
    ),
  'udp-io': z
    .enum(['mmsg', 'dgram'])
    .default('mmsg')
    .describe(
      'UDP input/output: mmsg reads and answers a batch of datagrams per syscall (recvmmsg/sendmmsg, Linux, the native addon npm run build compiles; node:dgram with a warning without it), dgram one per syscall',
    ),
  ...metricsOptions,
  'log-level': logLevel('warn'),
});

export type StunArgs = z.input<typeof stunSchema>;
export type StunOptions = z.output<typeof stunSchema>;

/**
 * `--alternate` (`serve --stun-alternate`): "HOST:PORT", "HOST" (another address, same port) or
 * ":PORT" (same address); port 0 is any free port. Malformed: NATPUSH_ERR_USAGE (host-port.ts).
 */
export function parseAlternate(
  text: string,
  listen: Endpoint,
  flag = '--alternate',
): { address?: string; port?: number } {
  const alt = splitHostPort(text, { flag, zeroPort: true, emptyHost: true });
  if (alt.address === '') return { port: alt.port! };
  const wildcard = (a: string): boolean => a === '0.0.0.0' || a === '::';
  if (wildcard(alt.address) || wildcard(listen.address)) {
    throw optionError(
      'RFC 5780 needs concrete addresses: give --listen and --alternate a specific IP, not a wildcard',
    );
  }
  return alt.port === undefined
    ? { address: alt.address }
    : { address: alt.address, port: alt.port };
}

export function stunServerOptions(o: StunOptions, logger?: Logger): StunServerOptions {
  const listen = parseHostPort(o.listen, { flag: '--listen', defaultPort: 3478, zeroPort: true });
  const options: StunServerOptions = {
    listen,
    tcp: o.tcp,
    replyBytesPerSecond: o['reply-budget'],
    udpIo: o['udp-io'],
    logger: logger ?? jsonLogger(o['log-level']),
    rateLimit:
      o['rate-limit'] > 0 ? { perSecond: o['rate-limit'], burst: 2 * o['rate-limit'] } : false,
  };
  if (o.alternate) options.alternate = parseAlternate(o.alternate, listen);
  return options;
}
