/**
 * From a decoded request to a reply (pion/turn's `handleTURNPacket` + `getMessageHandler`):
 *
 *   Binding                                  → XOR-MAPPED-ADDRESS, no credentials (RFC 8656 §4)
 *   credentials (auth.ts)                    → 400 / 401 / 438 on failure
 *   unknown comprehension-required attribute → 420 with UNKNOWN-ATTRIBUTES (RFC 8489 §6.3.1)
 *   Allocate                                 → handlers/allocate.ts
 *   other methods without an allocation      → 437; with another user's credentials → 441 (§5)
 *   Refresh / CreatePermission / ChannelBind → their handler; any other method → 400
 *   an attribute that does not decode        → 400 (RFC 8489 §6.3.1.1)
 */
import { endpointKey, type Endpoint } from '../../net/index.js';
import type { StunMessage } from '../../stun/index.js';
import { Attr, Method, StunDecodeError, readXorAddresses } from '../../stun/index.js';
import { authenticate } from '../auth.js';
import { TurnErrorCode } from '../errors.js';
import type { ClientLink } from './client-link.js';
import { handleAllocate } from './handlers/allocate.js';
import { handleChannelBind } from './handlers/channel-bind.js';
import { handleCreatePermission } from './handlers/create-permission.js';
import { handleRefresh } from './handlers/refresh.js';
import { error, ok, type Reply } from './reply.js';
import type { SiblingState } from './siblings.js';
import type { AllocationRequest, Authenticated, RelayCore } from './request-context.js';

/** The methods whose peers a gate checks (peer-access.ts): they install permissions (§9). */
const PERMISSION_METHODS: ReadonlySet<number> = new Set([
  Method.CreatePermission,
  Method.ChannelBind,
]);

/** Attributes we understand in requests; other comprehension-required ones → 420 (RFC 8489 §6.3.1).
 *  DONT-FRAGMENT is absent on purpose: Node cannot set DF, and RFC 8656 §7.2 step 3 says to
 *  treat it as unknown then. */
const KNOWN_ATTRIBUTES: ReadonlySet<number> = new Set([
  Attr.Username,
  Attr.MessageIntegrity,
  Attr.MessageIntegritySha256,
  Attr.Realm,
  Attr.Nonce,
  Attr.RequestedTransport,
  Attr.Lifetime,
  Attr.XorPeerAddress,
  Attr.Data,
  Attr.ChannelNumber,
  Attr.RequestedAddressFamily,
  Attr.EvenPort,
  Attr.PasswordAlgorithm,
  Attr.ReservationToken,
]);

/** The methods that act on an existing allocation, one handler each. */
const ALLOCATION_HANDLERS: ReadonlyMap<number, (ctx: AllocationRequest) => Reply> = new Map([
  [Method.Refresh, handleRefresh],
  [Method.CreatePermission, handleCreatePermission],
  [Method.ChannelBind, handleChannelBind],
]);

/** A reply and the key to sign it with (undefined before the request authenticated). */
export interface Answer {
  reply: Reply;
  key: Uint8Array | undefined;
}

export async function handleRequest(
  msg: StunMessage,
  link: ClientLink,
  core: RelayCore,
): Promise<Answer> {
  try {
    return await route(msg, link, core);
  } catch (err) {
    // An attribute that does not decode (bad UTF-8, wrong length, unknown family): the request
    // is malformed, not our failure (RFC 8489 §6.3.1.1: 400).
    if (err instanceof StunDecodeError) {
      core.counters.drop('malformed');
      return { reply: error(TurnErrorCode.BadRequest, 'malformed attribute'), key: undefined };
    }
    core.log.error('turn request handler failed', { err: String(err) });
    return { reply: error(TurnErrorCode.ServerError, 'internal error'), key: undefined };
  }
}

async function route(msg: StunMessage, link: ClientLink, core: RelayCore): Promise<Answer> {
  if (msg.method === Method.Binding) {
    // RFC 8656 §4: a TURN server answers Binding like a STUN server, without credentials.
    return {
      reply: ok((b) => b.addXorAddress(Attr.XorMappedAddress, link.client)),
      key: undefined,
    };
  }
  const now = core.options.clock.now();
  const auth = authenticate(core.auth, msg, endpointKey(link.client), now);
  if (!auth.ok) {
    return {
      reply: error(auth.status, auth.detail, { challenge: auth.challenge }),
      key: undefined,
    };
  }
  const key = auth.key;
  const unknown = msg.unknownComprehensionRequired(KNOWN_ATTRIBUTES);
  if (unknown.length > 0) {
    const reply = error(TurnErrorCode.UnknownAttribute, undefined, {
      attributes: (b) => b.addUnknownAttributes(unknown),
    });
    return { reply, key };
  }
  const gate = core.options.peerGate;
  const siblings = core.options.siblingExchange;
  const lookup = siblings?.lookup?.bind(siblings);
  if ((gate?.prepare || lookup) && PERMISSION_METHODS.has(msg.method)) {
    // What the synchronous handlers need to judge these peers, fetched first. Addresses that do
    // not decode are the handler's 400.
    let peers: Endpoint[] = [];
    try {
      peers = readXorAddresses(msg, Attr.XorPeerAddress);
    } catch {
      // answered by the handler
    }
    const waits: Promise<unknown>[] = [];
    // The gate's verdicts, from where it keeps them (peer-gate.ts).
    if (gate?.prepare && peers.length > 0) {
      waits.push(
        gate.prepare(
          auth.user,
          peers.map((p) => p.address),
        ),
      );
    }
    // A sibling worker's relayed address it allocated a moment ago (its copy is one IPC hop
    // behind the Allocate answer the peer got): asked of the workers before 403 (siblings.ts).
    if (lookup) {
      for (const p of peers) {
        if (core.peers.unknownSiblingPeer(p)) waits.push(learnSibling(core, lookup, p.port));
      }
    }
    if (waits.length > 0) {
      await Promise.all(waits);
      return routeAllocation(msg, link, core, auth, key, core.options.clock.now());
    }
  }
  return routeAllocation(msg, link, core, auth, key, now);
}

async function learnSibling(
  core: RelayCore,
  lookup: (port: number) => Promise<[number, SiblingState] | undefined>,
  port: number,
): Promise<void> {
  const found = await lookup(port);
  if (found !== undefined) core.registry.siblings?.apply(found[0], port, found[1]);
}

async function routeAllocation(
  msg: StunMessage,
  link: ClientLink,
  core: RelayCore,
  auth: Authenticated,
  key: Uint8Array,
  now: number,
): Promise<Answer> {
  const ctx = { msg, link, auth, now, core };
  if (msg.method === Method.Allocate) return { reply: await handleAllocate(ctx), key };
  const allocation = core.registry.of(link, now);
  // RFC 8656 §5: requests other than Allocate need an allocation on this 5-tuple (437), made
  // with the same credentials (441).
  if (allocation === undefined) return { reply: error(TurnErrorCode.AllocationMismatch), key };
  if (allocation.state.username !== auth.username) {
    return { reply: error(TurnErrorCode.WrongCredentials), key };
  }
  const handler = ALLOCATION_HANDLERS.get(msg.method);
  if (handler === undefined)
    return { reply: error(TurnErrorCode.BadRequest, 'unsupported method'), key };
  return { reply: handler({ ...ctx, allocation }), key };
}
