/**
 * STUN (RFC 8489) for natpush: codec, client transactions, server, NAT behaviour discovery.
 *
 * ## Codec usage (stable API — punch and relay build on it)
 *
 * Decode (zero-copy: values are views into the input; throws only StunDecodeError,
 * code NATPUSH_ERR_STUN_MALFORMED):
 * ```ts
 * if (!isStunMessage(datagram)) return;            // RFC 7983 demux: first byte 0–3 + cookie
 * const msg = decodeStunMessage(datagram);
 * msg.method === Method.Allocate && msg.cls === StunClass.Request;
 * msg.transactionId;                               // 12-byte view
 * const peer = readXorAddress(msg, Attr.XorPeerAddress);        // { address, port, family }
 * const peers = readXorAddresses(msg, Attr.XorPeerAddress);     // CreatePermission: several
 * const data = msg.get(Attr.Data);                 // Uint8Array view, no copy
 * const lifetime = readLifetime(msg);              // also readChannelNumber, readRequestedTransport,
 *                                                  // readEvenPort, readReservationToken,
 *                                                  // readAddressFamily, readAddressErrorCode,
 *                                                  // readPasswordAlgorithm(s), readUserhash,
 *                                                  // readString(msg, Attr.Realm|Nonce|Username),
 *                                                  // readErrorCode, readUnknownAttributes
 * msg.has(Attr.DontFragment);
 * msg.unknownComprehensionRequired(KNOWN);         // → 420 UNKNOWN-ATTRIBUTES
 * const key = longTermKey(username, realm, password, PasswordAlgorithm.MD5); // or SHA256
 * verifyIntegrity(msg, key);                       // MI-SHA256 if present, else MI; or pass 'sha1'
 * verifyFingerprint(msg);
 * ```
 * Encode (one buffer, no per-attribute allocation; `build()` returns a view of it):
 * ```ts
 * const out = StunMessageBuilder.of(Method.Allocate, StunClass.Success, msg.transactionId)
 *   .addXorAddress(Attr.XorRelayedAddress, relayed)
 *   .addXorAddress(Attr.XorMappedAddress, client)
 *   .addUint32(Attr.Lifetime, 600)
 *   .addIntegrity(key)                               // MESSAGE-INTEGRITY (HMAC-SHA1)
 *   .addFingerprint()
 *   .build();
 * new StunMessageBuilder(messageType(Method.Data, StunClass.Indication))
 *   .addXorAddress(Attr.XorPeerAddress, peer).addBytes(Attr.Data, payload).build();
 * ```
 * Other writers: addAddress, addString, addUint64, addFlag, addErrorCode, addUnknownAttributes,
 * addChangeRequest, addResponsePort, addChannelNumber, addRequestedTransport, addEvenPort,
 * addAddressFamily, addAddressErrorCode, addPasswordAlgorithms, addPasswordAlgorithm,
 * addIntegritySha256. Misuse (bad port, text over the RFC bound, attribute after FINGERPRINT)
 * throws TypeError/RangeError.
 *
 * ## Client transactions (transaction.ts — the one retransmission engine)
 * ```ts
 * const tx = new StunTransactions({ send: (b, to) => socket.send(b, to), clock });
 * socket.onMessage((d, from) => tx.handle(d, from) || otherListeners(d, from)); // true = ours
 * const { message, from, rttMs, attempts } = await tx.start(server, requestBytes, {
 *   signal, anySource, timeoutMs, retransmission: LAN_RETRANSMISSION });
 * tx.stopRetransmitting(transactionId);            // RFC 8445 §7.3.1.4 cancel
 * new StunTransactions({ send, transport: 'reliable' }); // TCP/TLS: one send, Ti 39.5 s
 * ```
 * Rejections: StunTimeoutError, StunAbortedError, StunOverloadedError, StunTransportError.
 */
export {
  Attr,
  attrName,
  isComprehensionRequired,
  PasswordAlgorithm,
  TransportProtocol,
} from './attribute-type.js';
export {
  MAGIC_COOKIE,
  HEADER_BYTES,
  TRANSACTION_ID_BYTES,
  LIMITS,
  RFC8489_RETRANSMISSION,
  LAN_RETRANSMISSION,
  TCP_TRANSACTION_TIMEOUT_MS,
} from './constants.js';
export {
  STUN_ERR,
  StunDecodeError,
  StunTimeoutError,
  StunAbortedError,
  StunErrorResponse,
  StunTransportError,
  StunOverloadedError,
} from './errors.js';
export {
  StunClass,
  Method,
  messageType,
  methodOf,
  classOf,
  BINDING_REQUEST,
  BINDING_SUCCESS,
  BINDING_ERROR,
} from './message-type.js';
export { StunMessage, decodeStunMessage, isStunMessage, stunMessageLength } from './message.js';
export type { DecodeOptions } from './message.js';
export { StunMessageBuilder, newTransactionId, utf8 } from './message-builder.js';
export {
  decodeAddress,
  readAddress,
  readXorAddress,
  readXorAddresses,
  readMappedAddress,
  readString,
  readUint32,
  readUint64,
  readLifetime,
  readErrorCode,
  readUnknownAttributes,
  readChangeRequest,
  readResponsePort,
  readChannelNumber,
  readRequestedTransport,
  readEvenPort,
  readReservationToken,
  readAddressFamily,
  readAddressErrorCode,
  readPasswordAlgorithms,
  readPasswordAlgorithm,
  readUserhash,
} from './attributes.js';
export type { ErrorCodeValue, PasswordAlgorithmValue } from './attributes.js';
export {
  opaqueString,
  shortTermKey,
  longTermKey,
  userhash,
  verifyIntegrity,
  verifyFingerprint,
  integrityKinds,
} from './integrity.js';
export type { IntegrityCheck } from './integrity.js';
export { crc32 } from './crc32.js';
export {
  StunTransactions,
  DEFAULT_MAX_PENDING_TRANSACTIONS,
  retransmissionTimesMs,
  scheduleLengthMs,
} from './transaction.js';
export type {
  StunSend,
  StunTransactionsOptions,
  TransactionOptions,
  StunTransactionStats,
} from './transaction.js';
export { StunClient } from './client.js';
export type {
  StunClientOptions,
  StunClientStats,
  RequestOptions,
  RetransmissionOptions,
  StunResponse,
  BindingResult,
} from './client.js';
export { StunServer } from './server.js';
export type { StunServerOptions, StunServerStats, StunServerDrop } from './server.js';
export { respond } from './binding-responder.js';
export type { ServerGrid, ResponderConfig, Decision } from './binding-responder.js';
export { RateLimiter } from './rate-limiter.js';
export type { RateLimitOptions } from './rate-limiter.js';
export { SERVER_DEFAULTS, TCP_LIMITS } from './constants.js';
export { discoverNat } from './nat-discovery.js';
export type { NatDiscoveryOptions, NatReport, ServerResult } from './nat-discovery.js';
export {
  classifyMapping,
  classifyFiltering,
  natKind,
  canPunch,
  punchOutlook,
  PEER_KINDS,
} from './nat-classify.js';
export type {
  Dependence,
  NatKind,
  PeerKind,
  PunchOutlook,
  MappingEvidence,
  FilteringEvidence,
} from './nat-classify.js';
export { DISCOVERY_DEFAULTS } from './constants.js';
export { formatNatReport } from './nat-report.js';
export { tcpBinding } from './tcp-probe.js';
