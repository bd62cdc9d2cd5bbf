/**
 * What the relay did, per direction and per drop reason (STYLE.md §8: a metric label for every
 * drop). Plain number fields so the hot path increments without a Map lookup.
 */
export const DROP_REASONS = [
  /** Not STUN, not ChannelData, or a STUN message that does not decode. */
  'malformed',
  /** ChannelData / Send from a 5-tuple without an allocation. */
  'no-allocation',
  /** ChannelData on a channel number that is not bound (or expired). */
  'no-channel',
  /** Data to or from a peer without a live permission (RFC 8656 §9). */
  'no-permission',
  /** ChannelData whose Length exceeds the datagram (RFC 8656 §12.5). */
  'bad-length',
  /** The user's bandwidth quota is exhausted. */
  'bandwidth',
  /** A TCP client does not read fast enough: its send buffer is full. */
  'backpressure',
  /** Send indication without XOR-PEER-ADDRESS / DATA, or a response/indication we do not take. */
  'unexpected',
  /** The whole server's bandwidth cap is exhausted. */
  'total-bandwidth',
  /** An error reply not sent: its source exceeded the per-IP rate for error replies (finding 10). */
  'error-rate-limited',
  /** An error reply not sent: it would exceed 2× the request on the wire (finding 10). */
  'error-too-large',
  /** An error reply not sent: this process's error replies of all sources used their bytes/s
   *  (constants.ts ERROR_REPLY_BYTES_PER_SECOND; a flood with spoofed sources). */
  'error-budget',
  /** TCP connections closed at once: the server's cap, or the client address's (finding 6). */
  'tcp-total',
  'tcp-per-ip',
  /** TCP connections closed for holding no allocation for TCP_NO_ALLOCATION_TIMEOUT_MS. */
  'tcp-no-allocation',
  /** A datagram for another worker's client not handed over: this worker's hand-off bytes/s
   *  are used (constants.ts OWNER_HANDOFF_BYTES_PER_SECOND). */
  'handoff-budget',
  /** Datagrams the batched UDP I/O (udpIo 'mmsg') could not send: the kernel's buffer was full
   *  or it refused them (net/mmsg-network.ts UdpDropError). */
  'send-failed',
  /** Datagrams longer than a batched socket's receive slot (udpIo 'mmsg', MMSG_DEFAULTS.slotBytes),
   *  dropped unread. */
  'truncated',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export class RelayCounters {
  /** Packets and payload bytes relayed client → peer and peer → client. */
  toPeerPackets = 0;
  toPeerBytes = 0;
  toClientPackets = 0;
  toClientBytes = 0;
  /** Of toClientPackets, those sent to another worker's client directly (server/siblings.ts). */
  toSiblingClientPackets = 0;
  /** Datagrams from another worker's client that the kernel delivered to us, handed to that
   *  worker over IPC (a worker was replaced: server/siblings.ts). */
  forwardedToOwner = 0;
  /** Requests answered, by outcome. */
  requests = 0;
  errorResponses = 0;
  allocationsCreated = 0;
  /** Of allocationsCreated, those whose client talks TURN over TCP (RFC 8656 §3.1). */
  tcpAllocationsCreated = 0;
  allocationsExpired = 0;
  /** Successful CreatePermission requests (RFC 8656 §9) and ChannelBind requests (§11). */
  permissionsCreated = 0;
  channelsBound = 0;
  /** CreatePermission / ChannelBind refused by the peer gate (not in rendezvous, peer-gate.ts). */
  peerGateRefused = 0;
  readonly dropped: Record<DropReason, number> = Object.fromEntries(
    DROP_REASONS.map((r) => [r, 0]),
  ) as Record<DropReason, number>;

  drop(reason: DropReason): void {
    this.dropped[reason]++;
  }

  snapshot(): Record<string, unknown> {
    return {
      toPeerPackets: this.toPeerPackets,
      toPeerBytes: this.toPeerBytes,
      toClientPackets: this.toClientPackets,
      toClientBytes: this.toClientBytes,
      toSiblingClientPackets: this.toSiblingClientPackets,
      forwardedToOwner: this.forwardedToOwner,
      requests: this.requests,
      errorResponses: this.errorResponses,
      allocationsCreated: this.allocationsCreated,
      tcpAllocationsCreated: this.tcpAllocationsCreated,
      allocationsExpired: this.allocationsExpired,
      permissionsCreated: this.permissionsCreated,
      channelsBound: this.channelsBound,
      peerGateRefused: this.peerGateRefused,
      dropped: { ...this.dropped },
    };
  }
}
