/**
 * The STUN retransmission schedule for tests against a server on loopback. LAN_RETRANSMISSION
 * (RFC 8489 §6.2.1 with RTO 100 ms: requests at 0, 100, 300, 700 ms, given up at 1.1 s) is right
 * for a fast link but not for a loaded 2-core test machine, where a process may wait 100 ms for
 * the CPU: the request is then sent twice, the server answers twice and a test counting answers
 * fails; one stalled past 1.1 s times out although nothing is wrong. Here requests go at 0, 1, 3
 * and 7 s and the transaction gives up at 11 s, within the 30 s integration test timeout; an
 * answered request returns at once, as before.
 */
import type { RetransmissionOptions } from '../../src/stun/client.js';

export const TEST_RETRANSMISSION: RetransmissionOptions = {
  rtoMs: 1_000,
  maxRequests: 4,
  lastWaitMultiplier: 4,
};
