/**
 * Allocate (RFC 8656 §7.2), its steps in order:
 *
 *   1. an allocation on this 5-tuple: the same transaction → the same success; else 437
 *   -  ALTERNATE-SERVER configured → 300 (this server only directs)
 *   -  an Allocate of this 5-tuple still binding its socket → no answer (it is on its way)
 *   2. REQUESTED-TRANSPORT missing → 400; not UDP → 442
 *   3. REQUESTED-ADDRESS-FAMILY other than the relayed one → 440; with RESERVATION-TOKEN → 400
 *   4. EVEN-PORT with RESERVATION-TOKEN → 400
 *   -  server full → 508; per client address or per user quota → 486
 *   5. bind the relayed socket (relayed-port.ts; 508 when none)
 *   -  success: XOR-RELAYED-ADDRESS, LIFETIME, XOR-MAPPED-ADDRESS (+ RESERVATION-TOKEN)
 */
import {
  Attr,
  readAddressFamily,
  readEvenPort,
  readLifetime,
  readRequestedTransport,
  readReservationToken,
  TransportProtocol,
} from '../../../stun/index.js';
import { endpointKey } from '../../../net/index.js';
import { UdpDropError } from '../../../net/mmsg-network.js';
import { sourceKey } from '../../../stun/rate-limiter.js';
import { TurnErrorCode } from '../../errors.js';
import { Allocation } from '../allocation.js';
import type { UserUsage } from '../quota.js';
import type { LiveAllocation } from '../registry.js';
import { bindRelayedPort, type BoundRelay, type RelaySpec } from '../relayed-port.js';
import {
  drop,
  error,
  isError,
  ok,
  redirect,
  type AddAttributes,
  type ErrorReply,
  type Reply,
} from '../reply.js';
import type { RequestContext } from '../request-context.js';

const hex = (b: Uint8Array): string =>
  Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

export async function handleAllocate(ctx: RequestContext): Promise<Reply> {
  const { msg, link, core, auth } = ctx;
  const registry = core.registry;
  const existing = registry.of(link, ctx.now);
  if (existing !== undefined) {
    // Step 1: a retransmitted Allocate gets the same success; anything else is a mismatch.
    if (existing.state.allocateTransactionId === hex(msg.transactionId)) {
      return ok(allocateSuccess(existing, core.options.clock.now()));
    }
    return error(TurnErrorCode.AllocationMismatch);
  }
  const alternate = core.nextAlternate();
  if (alternate !== undefined) return redirect(alternate);
  const tupleKey = `${link.transport}|${endpointKey(link.client)}`;
  // A retransmission of an Allocate whose relayed socket is still being bound: its answer is on
  // the way with the same transaction id, so this copy gets none (a 437 would win the race).
  if (registry.pending.has(tupleKey)) return drop();
  const spec = checkAllocateAttributes(ctx);
  if (isError(spec)) return spec;
  if (registry.size + registry.pending.size >= core.options.maxAllocations) {
    return error(TurnErrorCode.InsufficientCapacity, 'server full');
  }
  const ipKey = sourceKey(link.client.address);
  if (!registry.ipQuotas.acquire(ipKey)) {
    return error(TurnErrorCode.AllocationQuotaReached, 'too many from this address');
  }
  const usage = registry.quotas.acquire(auth.user, ctx.now);
  if (usage === undefined) {
    registry.ipQuotas.release(ipKey);
    return error(TurnErrorCode.AllocationQuotaReached);
  }
  const ledger = core.options.allocationLedger;
  const release = (): void => {
    registry.quotas.release(auth.user);
    registry.ipQuotas.release(ipKey);
    ledger?.release(auth.user, ipKey);
  };
  registry.pending.add(tupleKey);
  let bound: BoundRelay | ErrorReply;
  try {
    // Whole-server quotas across worker processes (options.ts allocationLedger).
    const verdict = ledger ? await ledger.acquire(auth.user, ipKey) : 'ok';
    if (verdict !== 'ok') {
      registry.quotas.release(auth.user);
      registry.ipQuotas.release(ipKey);
      return verdict === 'server-full'
        ? error(TurnErrorCode.InsufficientCapacity, 'server full')
        : error(TurnErrorCode.AllocationQuotaReached);
    }
    const o = core.options;
    bound = await bindRelayedPort(
      spec,
      o.relayNet,
      o.relayAddress,
      core.reservations,
      o.reservationExchange,
    );
  } catch (err) {
    release();
    throw err;
  } finally {
    registry.pending.delete(tupleKey);
  }
  if (isError(bound)) {
    release();
    return bound;
  }
  if (link.closed || core.closed()) {
    release();
    void bound.socket.close();
    return error(TurnErrorCode.AllocationMismatch, 'client went away');
  }
  const a = register(ctx, bound, usage, ipKey);
  // Before the answer: a gate elsewhere (Redis, relay-peer-gate.ts) knows the addresses by the
  // time the client can hand them to its peer.
  const noted = core.options.peerGate?.noteAllocation(auth.user, link.client, a.relayed);
  if (noted !== undefined) await noted;
  const success = allocateSuccess(a, core.options.clock.now());
  const token = bound.token;
  if (token === undefined) return ok(success);
  return ok((b) => {
    success(b);
    b.addBytes(Attr.ReservationToken, token);
  });
}

/** Steps 2–4: REQUESTED-TRANSPORT, address family, EVEN-PORT / RESERVATION-TOKEN. */
function checkAllocateAttributes(ctx: RequestContext): RelaySpec | ErrorReply {
  const msg = ctx.msg;
  const transport = readRequestedTransport(msg);
  if (transport === undefined) {
    return error(TurnErrorCode.BadRequest, 'REQUESTED-TRANSPORT missing');
  }
  if (transport !== TransportProtocol.UDP) {
    return error(TurnErrorCode.UnsupportedTransportProtocol);
  }
  const family = readAddressFamily(msg, Attr.RequestedAddressFamily);
  const token = readReservationToken(msg);
  const relayFamily = ctx.core.relayFamily;
  if (family !== undefined && family !== relayFamily) {
    return error(TurnErrorCode.AddressFamilyNotSupported);
  }
  if (family !== undefined && token !== undefined) return error(TurnErrorCode.BadRequest);
  const even = readEvenPort(msg);
  if (even !== undefined && token !== undefined) {
    return error(TurnErrorCode.BadRequest, 'EVEN-PORT with RESERVATION-TOKEN');
  }
  return { even: even !== undefined, reserveNext: even?.reserveNext === true, token };
}

/** The allocation's state, wired to its relayed socket and entered in the registry. */
function register(
  ctx: RequestContext,
  bound: BoundRelay,
  usage: UserUsage,
  ipKey: string,
): LiveAllocation {
  const { msg, link, core, auth } = ctx;
  const o = core.options;
  const relay = bound.socket;
  const state = new Allocation({
    fiveTuple: { transport: link.transport, client: link.client, server: link.server },
    username: auth.username,
    user: auth.user,
    key: auth.key,
    allocateTransactionId: hex(msg.transactionId),
    lifetimeS: initialLifetime(readLifetime(msg), o),
    now: o.clock.now(),
    limits: {
      maxPermissions: o.maxPermissionsPerAllocation,
      maxChannels: o.maxChannelsPerAllocation,
    },
  });
  const port = relay.address().port;
  const a: LiveAllocation = {
    state,
    link,
    relay,
    relayed: { address: o.externalAddress, port },
    usage,
    sourceKey: ipKey,
  };
  relay.onMessage((data, from) => core.data.fromPeer(a, data, from));
  relay.onError((err) => {
    if (err instanceof UdpDropError) core.counters.dropped[err.reason] += err.count;
    core.log.debug('turn relayed socket error', { err: err.message });
  });
  core.registry.add(a);
  if (link.transport !== 'udp') core.counters.tcpAllocationsCreated++;
  core.counters.allocationsCreated++;
  core.log.debug('turn allocation', { client: endpointKey(link.client), relayed: port });
  return a;
}

/** RFC 8656 §7.2: min(requested, max), but not below the default. */
function initialLifetime(
  requested: number | undefined,
  o: { defaultLifetimeSeconds: number; maxLifetimeSeconds: number },
): number {
  if (requested === undefined) return o.defaultLifetimeSeconds;
  return Math.max(o.defaultLifetimeSeconds, Math.min(requested, o.maxLifetimeSeconds));
}

function allocateSuccess(a: LiveAllocation, now: number): AddAttributes {
  const remaining = Math.max(0, Math.round((a.state.expiresAt - now) / 1000));
  return (b) =>
    b
      .addXorAddress(Attr.XorRelayedAddress, a.relayed)
      .addUint32(Attr.Lifetime, remaining)
      .addXorAddress(Attr.XorMappedAddress, a.link.client);
}
