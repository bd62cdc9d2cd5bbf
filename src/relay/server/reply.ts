/**
 * What a request handler decides, as a value (the way pion/turn's handlers return an error the
 * caller turns into a response, without exceptions for control flow):
 *
 *   ok(attrs)              → success response with these attributes (RFC 8489 §6.3.1)
 *   error(code, reason)    → error response with ERROR-CODE (RFC 8656 §19 codes)
 *   redirect(alternate)    → 300 Try Alternate with ALTERNATE-SERVER (RFC 8489 §10)
 *   drop(reason?)          → no response at all (a retransmission whose answer is on its way, …)
 *
 * The responder (responder.ts) turns a reply into bytes: integrity, fingerprint, REALM/NONCE on a
 * challenge, and the per-source error-rate and amplification limits.
 */
import type { StunMessageBuilder } from '../../stun/index.js';
import type { DropReason } from '../counters.js';
import { TURN_REASON, type TurnErrorCode } from '../errors.js';

/** Adds a reply's attributes to the response being built. */
export type AddAttributes = (b: StunMessageBuilder) => void;

export interface OkReply {
  readonly kind: 'ok';
  readonly attributes: AddAttributes | undefined;
}

export interface ErrorReply {
  readonly kind: 'error';
  readonly status: TurnErrorCode;
  readonly reason: string;
  /** RFC 8489 §9.2.4: 401/438 carry REALM and a fresh NONCE so the client can retry. */
  readonly challenge: boolean;
  readonly attributes: AddAttributes | undefined;
}

export interface RedirectReply {
  readonly kind: 'redirect';
  readonly alternate: { readonly address: string; readonly port: number };
}

export interface DropReply {
  readonly kind: 'drop';
  /** Counted under this drop reason when given; a silent retransmission absorb has none. */
  readonly reason: DropReason | undefined;
}

export type Reply = OkReply | ErrorReply | RedirectReply | DropReply;

export function ok(attributes?: AddAttributes): OkReply {
  return { kind: 'ok', attributes };
}

export function error(
  status: TurnErrorCode,
  reason: string = TURN_REASON[status],
  options: { challenge?: boolean; attributes?: AddAttributes } = {},
): ErrorReply {
  return {
    kind: 'error',
    status,
    reason,
    challenge: options.challenge === true,
    attributes: options.attributes,
  };
}

export function redirect(alternate: { address: string; port: number }): RedirectReply {
  return { kind: 'redirect', alternate };
}

export function drop(reason?: DropReason): DropReply {
  return { kind: 'drop', reason };
}

export function isError(r: unknown): r is ErrorReply {
  return typeof r === 'object' && r !== null && (r as { kind?: unknown }).kind === 'error';
}
