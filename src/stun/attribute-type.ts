/**
 * Attribute types (IANA "STUN Attributes" registry). 0x0000–0x7FFF are comprehension-required:
 * an agent that does not understand one must reject the message (RFC 8489 §14, §6.3.1);
 * 0x8000–0xFFFF are comprehension-optional and may be ignored.
 */
export const Attr = {
  // RFC 8489
  MappedAddress: 0x0001,
  Username: 0x0006,
  MessageIntegrity: 0x0008,
  ErrorCode: 0x0009,
  UnknownAttributes: 0x000a,
  Realm: 0x0014,
  Nonce: 0x0015,
  MessageIntegritySha256: 0x001c,
  PasswordAlgorithm: 0x001d,
  Userhash: 0x001e,
  XorMappedAddress: 0x0020,
  PasswordAlgorithms: 0x8002,
  AlternateDomain: 0x8003,
  Software: 0x8022,
  AlternateServer: 0x8023,
  Fingerprint: 0x8028,
  // RFC 5780 (NAT behaviour discovery)
  ChangeRequest: 0x0003,
  Padding: 0x0026,
  ResponsePort: 0x0027,
  CacheTimeout: 0x8027,
  ResponseOrigin: 0x802b,
  OtherAddress: 0x802c,
  // RFC 8656 (TURN)
  ChannelNumber: 0x000c,
  Lifetime: 0x000d,
  XorPeerAddress: 0x0012,
  Data: 0x0013,
  XorRelayedAddress: 0x0016,
  RequestedAddressFamily: 0x0017,
  EvenPort: 0x0018,
  RequestedTransport: 0x0019,
  DontFragment: 0x001a,
  ReservationToken: 0x0022,
  AdditionalAddressFamily: 0x8000,
  AddressErrorCode: 0x8001,
  Icmp: 0x8004,
  // RFC 6062 (TURN over TCP)
  ConnectionId: 0x002a,
  // RFC 8445 (ICE)
  Priority: 0x0024,
  UseCandidate: 0x0025,
  IceControlled: 0x8029,
  IceControlling: 0x802a,
} as const;

export function isComprehensionRequired(type: number): boolean {
  return type < 0x8000;
}

const names = new Map<number, string>(Object.entries(Attr).map(([k, v]) => [v, k]));

/** Human name of an attribute type, for logs and errors. */
export function attrName(type: number): string {
  return names.get(type) ?? `0x${type.toString(16).padStart(4, '0')}`;
}

/** RFC 8489 §18.5.1: password algorithm numbers. */
export const PasswordAlgorithm = {
  MD5: 0x0001,
  SHA256: 0x0002,
} as const;
export type PasswordAlgorithm = (typeof PasswordAlgorithm)[keyof typeof PasswordAlgorithm];

/** IANA protocol numbers for REQUESTED-TRANSPORT (RFC 8656 §18.7, RFC 6062 §6.2.1). */
export const TransportProtocol = {
  TCP: 6,
  UDP: 17,
} as const;
