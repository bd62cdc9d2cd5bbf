/**
 * The TURN client's Allocate policy around one attempt (TurnClient.allocate): RFC 8489 §10
 * redirects (300 Try Alternate → the ALTERNATE-SERVER, a director in front of worker relays),
 * RFC 8656 §7.1 437 Allocation Mismatch (our 5-tuple is still in use on the server: a previous
 * owner of this local port; retry from a fresh local port when the port is ours), and the UDP →
 * TCP fallback of `tcpFallback` (RFC 8656 §3.1) when UDP got no answer at all.
 */
import { silentLogger } from '../../util/logger.js';
import { TURN_ERR, TurnClientError } from '../errors.js';
import type { TurnClientOptions } from './options.js';

/** Allocate attempts from fresh local ports after 437 Allocation Mismatch. */
const ALLOCATE_ATTEMPTS = 3;
/** 300 Try Alternate redirections followed per Allocate. */
const MAX_REDIRECTS = 3;

/** `attempt` opens a transport and allocates (closing the transport itself when it fails). */
export async function allocateWithFallback<C>(
  options: TurnClientOptions,
  attempt: (o: TurnClientOptions) => Promise<C>,
): Promise<C> {
  const fallback = options.transport === 'tcp' ? undefined : options.tcpFallback;
  try {
    return await allocateFollowing(options, attempt);
  } catch (err) {
    const silent = err instanceof TurnClientError && err.code === TURN_ERR.TIMEOUT;
    if (!fallback || !silent) throw err;
    const { socket: _socket, net: _net, tcpFallback: _fallback, ...rest } = options;
    (options.logger ?? silentLogger).debug('no TURN answer over UDP; allocating over TCP', {
      server: `${fallback.address}:${fallback.port}`,
    });
    return allocateFollowing({ ...rest, transport: 'tcp', server: fallback }, attempt);
  }
}

async function allocateFollowing<C>(
  options: TurnClientOptions,
  attempt: (o: TurnClientOptions) => Promise<C>,
): Promise<C> {
  let redirects = 0;
  for (let n = 0; ; n++) {
    try {
      return await attempt(options);
    } catch (err) {
      const ownPort = options.transport === 'tcp' || options.socket === undefined;
      if (err instanceof TurnClientError && err.alternate && redirects++ < MAX_REDIRECTS) {
        options = { ...options, server: err.alternate };
        n--;
        continue;
      }
      const mismatch = err instanceof TurnClientError && err.status === 437;
      if (!mismatch || !ownPort || n >= ALLOCATE_ATTEMPTS - 1) throw err;
    }
  }
}
