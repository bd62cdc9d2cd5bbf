/**
 * Short-lived TURN credentials for authenticated peers (DESIGN.md: "short-lived credentials minted
 * by serve"). Pure: given the relay's shared secret and ports, a peer id, the address the peer
 * reached us at and the time, it builds the `turn-credentials` reply. The relay (src/relay) needs
 * nothing but the same secret to accept them (TURN REST convention, coturn `use-auth-secret`).
 */
import { isIP } from 'node:net';
import { mintTurnCredentials } from '../relay/credentials.js';
import { LIMITS } from './constants.js';
import type { ServerContext } from './context.js';
import { SignalingError, SignalingErrorCode } from './errors.js';
import type { TurnCredentialsReply } from './protocol.js';

/**
 * A fleet of relays sharing the secret (../cluster/relay-fleet.ts): names the relay for each
 * peer's credentials, or undefined when none is in rotation (RELAY_UNAVAILABLE, 503).
 */
export interface TurnRelayPicker {
  /** `region`: the peer's own region label, preferred over serve's (`hello.region`). */
  pick(peer: string, connectedTo: string, region?: string): string[] | undefined;
}

export interface TurnCredentialsOptions {
  /** The relay's TURN REST shared secret (serve: `<data-dir>/turn-secret` or `--turn-secret`). */
  secret: string | Uint8Array;
  /**
   * The relays to name, one picked per request (serve --redis / --turn-url). When given, the
   * ports and host below are not used: the fleet's URLs are.
   */
  relays?: TurnRelayPicker;
  /** The relay's UDP port, advertised as `turn:HOST:PORT?transport=udp` (required without `relays`). */
  udpPort?: number;
  /** The relay's TCP port (RFC 8656 §3.1), if it listens on TCP; advertised second. */
  tcpPort?: number;
  /**
   * Host put in the URLs. Default: the local address the peer's signaling connection arrived on
   * — the one address we know this peer can reach, and where `serve`'s relay listens too when it
   * binds the same `--host`. Set it when a NAT or proxy stands in front of the server.
   */
  publicHost?: string;
  /** Credential lifetime in seconds (default LIMITS.turnCredentialTtlSeconds, 1 h). */
  ttlSeconds?: number;
}

/** Validated options, resolved once when the server starts (programmer misuse throws there). */
export interface TurnCredentialIssuer {
  /**
   * Credentials for `peer`, or undefined when a fleet has no relay in rotation (a caller that
   * only offers them, like a welcome, goes on without; `issueTurnCredentials` answers 503).
   */
  issue(
    peer: string,
    connectedTo: string,
    nowMs: number,
    region?: string,
  ): Omit<TurnCredentialsReply, 'ref' | 'type'> | undefined;
}

function checkPort(name: string, port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new RangeError(`${name} must be a port 1..65535, got ${port}`);
}

/** RFC 7065 §3.1: an IPv6 literal is written in brackets; IPv4-mapped forms as IPv4. */
export function turnUriHost(address: string): string {
  const a =
    address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
  return isIP(a) === 6 ? `[${a}]` : a;
}

/** One relay (no `relays`): there are always credentials to give. */
export interface FixedTurnCredentialIssuer extends TurnCredentialIssuer {
  issue(
    peer: string,
    connectedTo: string,
    nowMs: number,
  ): Omit<TurnCredentialsReply, 'ref' | 'type'>;
}

export function turnCredentialIssuer(
  o: TurnCredentialsOptions & { relays?: undefined },
): FixedTurnCredentialIssuer;
export function turnCredentialIssuer(o: TurnCredentialsOptions): TurnCredentialIssuer;
export function turnCredentialIssuer(o: TurnCredentialsOptions): TurnCredentialIssuer {
  if (o.secret.length === 0) throw new TypeError('TURN secret must not be empty');
  if (!o.relays) checkPort('udpPort', o.udpPort ?? NaN);
  if (o.tcpPort !== undefined) checkPort('tcpPort', o.tcpPort);
  const ttl = o.ttlSeconds ?? LIMITS.turnCredentialTtlSeconds;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > LIMITS.maxTurnCredentialTtlSeconds)
    throw new RangeError(
      `TURN credential ttl must be 1..${LIMITS.maxTurnCredentialTtlSeconds} s, got ${ttl}`,
    );
  if (o.publicHost !== undefined && (o.publicHost === '' || /[\s/?#@[\]]/.test(o.publicHost)))
    throw new TypeError(`not a host for a turn: URI: ${JSON.stringify(o.publicHost)}`);
  return {
    issue(peer, connectedTo, nowMs, region) {
      if (o.relays) {
        const urls = o.relays.pick(peer, connectedTo, region);
        if (!urls || urls.length === 0) return undefined;
        const c = mintTurnCredentials(o.secret, peer, ttl, nowMs);
        return {
          username: c.username,
          password: c.password,
          ttl: c.ttl,
          expires: c.expiresAt,
          urls,
        };
      }
      const c = mintTurnCredentials(o.secret, peer, ttl, nowMs);
      const host =
        o.publicHost !== undefined ? turnUriHost(o.publicHost) : turnUriHost(connectedTo);
      const urls = [`turn:${host}:${o.udpPort}?transport=udp`];
      if (o.tcpPort !== undefined) urls.push(`turn:${host}:${o.tcpPort}?transport=tcp`);
      return { username: c.username, password: c.password, ttl: c.ttl, expires: c.expiresAt, urls };
    },
  };
}

/**
 * Credentials for an authenticated `peer` of this server (WebSocket `turn-credentials` and
 * `POST /v1/turn-credentials` both come here). Throws RELAY_UNAVAILABLE when no relay is composed.
 * `region`: the peer's own (`hello.region`, `turn-credentials.region`, `?region=`).
 */
export function issueTurnCredentials(
  ctx: ServerContext,
  peer: string,
  connectedTo: string,
  region?: string,
): Omit<TurnCredentialsReply, 'ref' | 'type'> {
  if (!ctx.turn)
    throw new SignalingError(
      SignalingErrorCode.RELAY_UNAVAILABLE,
      'this server runs no TURN relay',
    );
  const c = ctx.turn.issue(peer, connectedTo, ctx.clock.now(), region);
  if (!c)
    throw new SignalingError(
      SignalingErrorCode.RELAY_UNAVAILABLE,
      'no TURN relay is in rotation (every registered relay is gone)',
    );
  // The relay's peer gate learns where this peer's signaling connection comes from (rendezvous.ts).
  ctx.rendezvous?.noteAddress(peer, ctx.rendezvous.addressOf(peer));
  ctx.metrics.turnCredentials.inc();
  return c;
}
