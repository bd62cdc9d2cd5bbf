/**
 * A punched path on a socket other than the peer's one socket: the birthday-probing socket that
 * got through (birthday.ts), which the hard side found open toward one remote endpoint. The
 * session's ICE credentials and role carry over: a check agent (checks.ts) on that socket checks
 * the one pair (this socket → the remote endpoint the probe came from), answers the other side's
 * checks to it, and selects as usual (RFC 8445 §7: the controlled side selects only once its own
 * check on the pair succeeded). Consent freshness (RFC 7675) then runs on this socket, and the
 * PunchedPath (path.ts) sends from it. Closing the path closes the socket.
 *
 * Why a check agent rather than the birthday ACK alone: the ACK is unauthenticated, and the path
 * must prove the remote holds the session's pwd before it carries session data, exactly as a
 * path found by ordinary checks does.
 */
import type { Endpoint, UdpSocket } from '../net/udp.js';
import { decodeStunMessage, type StunMessage } from '../stun/message.js';
import { StunTransactions } from '../stun/transaction.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { candidatePriority } from './candidates.js';
import type { IceCredentials, Role } from './check-message.js';
import { checkTarget, newTieBreaker } from './check-message.js';
import { CheckAgent, type CheckHandshake } from './checks.js';
import { PUNCH_DEFAULTS } from './constants.js';
import { SocketDemux } from './demux.js';
import { createPunchedPath, type PunchedPath } from './path.js';

export interface SidePathOptions {
  /** The socket; owned by the path from now on (closed with it, or on failure). */
  socket: UdpSocket;
  /** The remote endpoint this socket's NAT mapping is open to. */
  remote: Endpoint;
  role: Role;
  local: IceCredentials;
  remoteCreds: IceCredentials;
  clock: Clock;
  logger: Logger;
  handshake?: CheckHandshake;
  /** Gives up after this long (default PUNCH_DEFAULTS.punchTimeoutMs). */
  timeoutMs?: number;
  signal?: AbortSignal;
  onClose?: () => void;
}

/** Checks the one pair; resolves with the path when selected, rejects when it fails. */
export function punchSidePath(o: SidePathOptions): Promise<PunchedPath> {
  const demux = new SocketDemux(o.socket, { logger: o.logger });
  const tx = new StunTransactions({
    send: (b, to) => o.socket.send(b, to),
    clock: o.clock,
    logger: o.logger,
    maxPending: PUNCH_DEFAULTS.maxPendingChecks,
  });
  const agent = new CheckAgent({
    role: o.role,
    tieBreaker: newTieBreaker(),
    local: o.local,
    remote: o.remoteCreds,
    localPriority: { socket: candidatePriority('host') },
    transactions: { socket: tx },
    // Only the socket: nothing on this path goes through a relay.
    send: (bytes, to, via) => {
      if (via === 'socket' && !o.socket.closed) o.socket.send(bytes, to);
    },
    clock: o.clock,
    logger: o.logger,
    ...(o.handshake ? { handshake: o.handshake } : {}),
    punchTimeoutMs: o.timeoutMs ?? PUNCH_DEFAULTS.punchTimeoutMs,
  });
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    for (const off of offs) off();
    agent.close();
    tx.close();
    demux.close();
    void o.socket.close();
    o.onClose?.();
  };
  const decode = (d: Uint8Array): StunMessage | undefined => {
    try {
      return decodeStunMessage(d);
    } catch {
      return undefined;
    }
  };
  const offs = [
    demux.on('stun-request', (d, from) => {
      const msg = decode(d);
      if (msg && checkTarget(msg) === o.local.ufrag) agent.handleRequest(msg, from, 'socket');
    }),
    demux.on('stun-response', (d, from) => {
      const msg = decode(d);
      if (msg && agent.screenResponse(msg) !== 'forged') tx.handle(d, from);
    }),
  ];
  return new Promise<PunchedPath>((resolve, reject) => {
    const onAbort = (): void => {
      release();
      reject(new Error('side path aborted'));
    };
    if (o.signal?.aborted) return onAbort();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    agent.onSelected((pair) => {
      o.signal?.removeEventListener('abort', onAbort);
      resolve(
        createPunchedPath({ agent, pair, demux, relay: undefined, early: [], onClose: release }),
      );
    });
    agent.onFailed((reason) => {
      o.signal?.removeEventListener('abort', onAbort);
      release();
      reject(new Error(`side path failed: ${reason}`));
    });
    agent.addRemote({
      type: 'prflx',
      address: o.remote.address,
      port: o.remote.port,
      priority: candidatePriority('prflx'),
    });
    agent.start();
  });
}
