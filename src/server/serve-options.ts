/**
 * `natpush serve`'s options: the one schema (flags, defaults, help, validation).
 */
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_PORT, LIMITS, TIMING } from '../signaling/constants.js';
import { logLevel, port, serveFleetOptions } from './options-schema.js';
import { SECRET_ENV } from './secrets.js';
import { PEER_LIMITS } from '../signaling/store/peer-limits.js';

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.XDG_DATA_HOME ? join(env.XDG_DATA_HOME, 'natpush') : resolve('.natpush');
}

export const serveSchema = z.object({
  port: port('TCP port for HTTP + WebSocket (0 = any free port)', DEFAULT_PORT),
  host: z.string().min(1).default('0.0.0.0').describe('listen address'),
  'data-dir': z
    .string()
    .min(1)
    .default(() => defaultDataDir())
    .describe('mailbox and keys ($XDG_DATA_HOME/natpush or ./.natpush)'),
  store: z.enum(['sqlite', 'memory']).default('sqlite').describe('mailbox store'),
  /**
   * The fast path of a local store (src/signaling/early-accepts.ts). At most 60 s: `accepted`
   * for a recipient that does not ack waits up to this long, and a sender that waited a minute
   * for its 202 has long given up (`natpush send --timeout` is 10 s). A minute is still far
   * above any ack delay, so a test can decide which path a notification takes. What waits is
   * bounded by the delivery windows whatever the value (constants.ts, "Early accepts").
   */
  'early-ack-ms': z
    .number()
    .int()
    .min(0)
    .max(60_000)
    .default(TIMING.earlyAckMs)
    .describe(
      'ms a notification sent to an online recipient before it is written waits for its ack: acked in time, it is never written, and accepted goes out at the ack; otherwise it is written and fsynced first. 0 = off (every notification written before accepted). Local store only (ignored with --redis)',
    ),
  /** Bounds on registrations (src/signaling/store/peer-limits.ts, where the defaults are argued). */
  'peer-ttl-days': z
    .number()
    .int()
    .min(0)
    .max(36_500)
    .default(PEER_LIMITS.ttlMs / 86_400_000)
    .describe(
      'days a registered peer may stay away (no login, no session) before its registration and mailbox are deleted; 0 = never',
    ),
  'max-peers': z
    .number()
    .int()
    .min(1)
    .default(PEER_LIMITS.max)
    .describe(
      `registered peers at most: a new peer is refused (NATPUSH_ERR_PEER_LIMIT) at this many, known peers still log in`,
    ),
  'api-key-file': z
    .string()
    .optional()
    .describe(
      `file of API keys for POST /v1/peers/{id}/notifications, one per line (also $${SECRET_ENV.apiKey}; default: generated into the data dir)`,
    ),
  'api-key': z
    .array(z.string())
    .optional()
    .describe('an API key on the command line (visible to all local users: prefer --api-key-file)'),
  'peer-token-file': z
    .string()
    .optional()
    .describe(
      `file of peer tokens, one per line: peers must present one or an HMAC token minted from it (also $${SECRET_ENV.peerToken}; none = open registration)`,
    ),
  'peer-token': z
    .array(z.string())
    .optional()
    .describe(
      'a peer token on the command line (visible to all local users: prefer --peer-token-file)',
    ),
  stun: z.boolean().default(true).describe('also run the STUN server (--no-stun: do not)'),
  'stun-port': port('STUN port, UDP and TCP (RFC 8489 §9: 3478; 0 = any free port)', 3478),
  'stun-alternate': z
    .string()
    .optional()
    .describe(
      "RFC 5780 alternate for the STUN server: HOST:PORT (a second IP of this host, another port), HOST or :PORT; needs a concrete --host. Peers and nat-check then measure their NAT's filtering (the port must not be --relay-port's)",
    ),
  'stun-udp-io': z
    .enum(['mmsg', 'dgram'])
    .default('mmsg')
    .describe("the STUN server's UDP input/output, as `natpush stun --udp-io`"),
  redis: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Redis URL (redis://, rediss://, unix:///path): share presence, routing and the mailbox with other serve nodes (also $NATPUSH_REDIS_URL; default: embedded SQLite)',
    ),
  'log-level': logLevel('info'),
  relay: z.boolean().default(true).describe('run the TURN relay (RFC 8656); --no-relay to disable'),
  'relay-port': port(
    "UDP and TCP port of the TURN relay (0 = any free port; 3478 is the STUN server's)",
    3479,
  ),
  'relay-address': z
    .string()
    .optional()
    .describe('address for relayed sockets (default: --host, or the first non-loopback IPv4)'),
  'relay-udp-io': z
    .enum(['mmsg', 'dgram'])
    .default('mmsg')
    .describe(
      "the TURN relay's UDP input/output (listener and relayed sockets), as `natpush relay --udp-io`",
    ),
  'relay-public-address': z
    .string()
    .optional()
    .describe(
      'public address of the relay behind a 1:1 NAT: named in the turn: URLs handed to peers and, if an IP, advertised as XOR-RELAYED-ADDRESS (default: the address the peer reached serve at / --relay-address)',
    ),
  'relay-peer-gate': z
    .boolean()
    .default(true)
    .describe(
      'relay only between natpush peers: a permission is granted only toward an address serve has seen for a peer in rendezvous with the requester (--no-relay-peer-gate: a plain TURN server for every registered peer; then serve refuses to start on a non-loopback --host with open registration unless --peer-token or --open-relay-i-know)',
    ),
  'open-relay-i-know': z
    .boolean()
    .default(false)
    .describe(
      'allow --no-relay-peer-gate with open registration on a non-loopback --host: any new key pair may then relay to any public host (capped per peer, per IP and in all)',
    ),
  'turn-secret-file': z
    .string()
    .optional()
    .describe(
      `file holding the TURN REST shared secret (also $${SECRET_ENV.turnSecret}; default: generated into the data dir as turn-secret)`,
    ),
  'turn-secret': z
    .string()
    .optional()
    .describe(
      'the TURN secret on the command line (visible to all local users: prefer --turn-secret-file)',
    ),
  'turn-credential-ttl': z
    .number()
    .int()
    .min(1)
    .default(LIMITS.turnCredentialTtlSeconds)
    .describe('lifetime in seconds of the TURN credentials handed to authenticated peers'),
  ...serveFleetOptions,
});

export type ServeArgs = z.input<typeof serveSchema>;
export type ServeOptions = z.output<typeof serveSchema>;
