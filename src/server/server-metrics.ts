/**
 * The relay's and the STUN server's numbers in the one registry (src/signaling/metrics.ts,
 * prom-client), under the usual names. The components keep plain field counters on their hot
 * paths; these are read at scrape time — from the server in this process, or summed over the
 * workers over IPC (`Relay.counters()`, `Stun.counters()`), so `/metrics` shows the whole server.
 */
import type { Metrics } from '../signaling/metrics.js';

type Snapshot = Record<string, unknown>;
type Read = () => Promise<Snapshot>;

const num = (s: Snapshot, k: string): number => (typeof s[k] === 'number' ? (s[k] as number) : 0);
const obj = (s: Snapshot, k: string): Record<string, number> =>
  (typeof s[k] === 'object' && s[k] !== null ? s[k] : {}) as Record<string, number>;

/**
 * One snapshot per scrape, shared by every metric of the family (a scrape reads each metric in
 * turn; without this, N workers would be asked N times).
 */
function once(read: Read): Read {
  let pending: Promise<Snapshot> | undefined;
  return () => {
    pending ??= read().finally(() => queueMicrotask(() => (pending = undefined)));
    return pending;
  };
}

/** TURN relay (RFC 8656) metrics; `read` gives RelayCounters.snapshot() plus `allocations`. */
export function relayMetrics(m: Metrics, readCounters: Read): void {
  const read = once(readCounters);
  m.gauge('natpush_relay_allocations', 'TURN allocations held.', async () =>
    num(await read(), 'allocations'),
  );
  m.counterFrom(
    'natpush_relay_bytes_total',
    'Payload bytes relayed, by direction.',
    async () => {
      const s = await read();
      return [
        [{ direction: 'to_peer' }, num(s, 'toPeerBytes')],
        [{ direction: 'to_client' }, num(s, 'toClientBytes')],
      ];
    },
    ['direction'],
  );
  m.counterFrom(
    'natpush_relay_packets_total',
    'Packets relayed, by direction.',
    async () => {
      const s = await read();
      return [
        [{ direction: 'to_peer' }, num(s, 'toPeerPackets')],
        [{ direction: 'to_client' }, num(s, 'toClientPackets')],
      ];
    },
    ['direction'],
  );
  m.counterFrom(
    'natpush_relay_sibling_handoffs_total',
    'Packets handed by one worker straight to another worker’s client (relay/server/siblings.ts).',
    async () => num(await read(), 'toSiblingClientPackets'),
  );
  m.counterFrom(
    'natpush_relay_forwarded_to_owner_total',
    'Datagrams of another worker’s client, handed to that worker (relay/server/siblings.ts).',
    async () => num(await read(), 'forwardedToOwner'),
  );
  m.counterFrom(
    'natpush_relay_dropped_total',
    'Packets and TCP connections dropped by the relay, by reason.',
    async () => Object.entries(obj(await read(), 'dropped')).map(([reason, n]) => [{ reason }, n]),
    ['reason'],
  );
  for (const [name, key, help] of [
    ['natpush_relay_requests_total', 'requests', 'TURN requests answered.'],
    ['natpush_relay_error_responses_total', 'errorResponses', 'TURN error responses sent.'],
    ['natpush_relay_allocations_created_total', 'allocationsCreated', 'Allocations made.'],
    ['natpush_relay_allocations_expired_total', 'allocationsExpired', 'Allocations expired.'],
    [
      'natpush_relay_peer_gate_refused_total',
      'peerGateRefused',
      'Permissions refused by the peer gate.',
    ],
  ] as const) {
    m.counterFrom(name, help, async () => num(await read(), key));
  }
  // The names `serve` exported before this registry (dashboards and tests read them).
  m.gauge('natpush_turn_allocations', 'Deprecated: natpush_relay_allocations.', async () =>
    num(await read(), 'allocations'),
  );
  m.gauge('natpush_turn_relayed_packets', 'Deprecated: natpush_relay_packets_total.', async () => {
    const s = await read();
    return num(s, 'toPeerPackets') + num(s, 'toClientPackets');
  });
  m.gauge(
    'natpush_turn_peer_gate_refused',
    'Deprecated: natpush_relay_peer_gate_refused_total.',
    async () => num(await read(), 'peerGateRefused'),
  );
}

/** STUN server metrics; `read` gives StunServerStats. */
export function stunMetrics(m: Metrics, readStats: Read): void {
  const read = once(readStats);
  m.counterFrom('natpush_stun_received_total', 'STUN packets received.', async () =>
    num(await read(), 'received'),
  );
  m.counterFrom(
    'natpush_stun_answered_total',
    'STUN requests answered, by kind (binding, change = RFC 5780 CHANGE-REQUEST, error).',
    async () => Object.entries(obj(await read(), 'answered')).map(([kind, n]) => [{ kind }, n]),
    ['kind'],
  );
  m.counterFrom(
    'natpush_stun_dropped_total',
    'STUN packets dropped, by reason.',
    async () => Object.entries(obj(await read(), 'dropped')).map(([reason, n]) => [{ reason }, n]),
    ['reason'],
  );
  // The names `serve` exported before this registry.
  m.gauge('natpush_stun_requests_received', 'Deprecated: natpush_stun_received_total.', async () =>
    num(await read(), 'received'),
  );
  m.gauge(
    'natpush_stun_binding_answered',
    'Deprecated: natpush_stun_answered_total{kind="binding"}.',
    async () => obj(await read(), 'answered').binding ?? 0,
  );
}
