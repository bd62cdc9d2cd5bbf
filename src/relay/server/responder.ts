/**
 * Turns a handler's reply (reply.ts) into a response on the client's link: integrity of the kind
 * the request used (RFC 8489 §9.2.4), FINGERPRINT when the request had one, REALM and a fresh
 * NONCE on a challenge, and the limits that keep error replies from being a reflection tool: per
 * source IP, ≤ 2× the request, and a bytes/s budget for the whole process (all sources).
 */
import net from 'node:net';
import { endpointKey } from '../../net/index.js';
import type { StunMessage } from '../../stun/index.js';
import { Attr, StunClass, StunMessageBuilder } from '../../stun/index.js';
import { IPV4_UDP_HEADER_BYTES, IPV6_UDP_HEADER_BYTES } from '../../stun/constants.js';
import { RateLimiter, sourceKey } from '../../stun/rate-limiter.js';
import type { Clock } from '../../util/clock.js';
import type { TokenBucket } from '../../util/token-bucket.js';
import { ERROR_REPLY_MAX_AMPLIFICATION } from '../constants.js';
import type { RelayCounters } from '../counters.js';
import { TurnErrorCode } from '../errors.js';
import type { NonceMinter } from '../nonce.js';
import type { ClientLink } from './client-link.js';
import { error, type ErrorReply, type Reply } from './reply.js';

export interface ResponderOptions {
  realm: string;
  nonces: NonceMinter;
  clock: Clock;
  counters: RelayCounters;
  /** Error replies per source IP (finding 10); the STUN server's limits. */
  errorLimiter: RateLimiter;
  /** Error replies over UDP of this process, all sources together, in bytes on the wire
   *  (constants.ts ERROR_REPLY_BYTES_PER_SECOND): spoofing new sources gains nothing. */
  errorBytes: TokenBucket;
}

export class Responder {
  readonly #o: ResponderOptions;

  constructor(o: ResponderOptions) {
    this.#o = o;
  }

  /** Send `reply` to `req` on `link`, signed with `key` when the request authenticated. */
  answer(link: ClientLink, req: StunMessage, reply: Reply, key: Uint8Array | undefined): void {
    switch (reply.kind) {
      case 'ok': {
        const b = StunMessageBuilder.of(req.method, StunClass.Success, req.transactionId);
        reply.attributes?.(b);
        seal(b, req, key);
        link.send(b.build());
        return;
      }
      case 'error':
        return this.#error(link, req, reply, key);
      case 'redirect':
        return this.#error(link, req, redirectError(reply.alternate), key);
      case 'drop':
        if (reply.reason !== undefined) this.#o.counters.drop(reply.reason);
        return;
    }
  }

  #error(link: ClientLink, req: StunMessage, r: ErrorReply, key: Uint8Array | undefined): void {
    const c = this.#o.counters;
    const udp = link.transport === 'udp';
    // Finding 10: over UDP the source may be spoofed, so an error reply is a reflection: rate
    // limited per source IP like the STUN server's answers. (TCP needs a handshake first.)
    if (udp && !this.#o.errorLimiter.allow(sourceKey(link.client.address))) {
      return c.drop('error-rate-limited');
    }
    // A request without a single attribute is never the start of a real TURN exchange (Allocate
    // needs REQUESTED-TRANSPORT, the others credentials): too small to justify a 401 of 3×.
    if (udp && r.challenge && req.attributeCount === 0) return c.drop('error-too-large');
    const nonce = r.challenge
      ? this.#o.nonces.mint(endpointKey(link.client), this.#o.clock.now())
      : undefined;
    const build = (reason: string): Uint8Array => {
      const b = StunMessageBuilder.of(req.method, StunClass.Error, req.transactionId);
      b.addErrorCode(r.status, reason);
      r.attributes?.(b);
      if (nonce !== undefined) {
        // RFC 8489 §9.2.4: REALM and a fresh NONCE so the client can (re)compute its integrity.
        b.addString(Attr.Realm, this.#o.realm);
        b.addString(Attr.Nonce, nonce);
      }
      seal(b, req, key);
      return b.build();
    };
    let bytes = build(r.reason);
    if (udp) {
      // On the wire (IP + UDP headers counted, as RFC 5780 §9.1 and binding-responder.ts do):
      // the reason phrase (RFC 8489 §14.8: any text, may be empty) only while the reply stays
      // within 1× the request, and no reply at all beyond 2×. No SOFTWARE is ever added.
      const h = net.isIPv6(link.client.address) ? IPV6_UDP_HEADER_BYTES : IPV4_UDP_HEADER_BYTES;
      const request = req.raw.length + h;
      if (bytes.length + h > request) bytes = build('');
      if (bytes.length + h > request * ERROR_REPLY_MAX_AMPLIFICATION) {
        return c.drop('error-too-large');
      }
      if (!this.#o.errorBytes.take(bytes.length + h, this.#o.clock.now())) {
        return c.drop('error-budget');
      }
    }
    c.errorResponses++;
    link.send(bytes);
  }
}

/** RFC 8489 §10: 300 Try Alternate carries ALTERNATE-SERVER. */
function redirectError(to: { address: string; port: number }): ErrorReply {
  return error(TurnErrorCode.TryAlternate, undefined, {
    attributes: (b) => b.addAddress(Attr.AlternateServer, to),
  });
}

/** Integrity of the kind the request used (RFC 8489 §9.2.4), FINGERPRINT if the request had one. */
function seal(b: StunMessageBuilder, req: StunMessage, key: Uint8Array | undefined): void {
  if (key !== undefined) {
    if (req.integritySha256Offset >= 0) b.addIntegritySha256(key);
    else b.addIntegrity(key);
  }
  if (req.fingerprintOffset >= 0) b.addFingerprint();
}
