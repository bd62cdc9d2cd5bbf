/** End-to-end encryption for natpush peers: identity key conversion, Noise, sealed messages, sessions. */
export { SessionError, SessionErrorCode } from './errors.js';
export {
  x25519KeyPairFromIdentity,
  x25519PublicFromEd25519,
  x25519PublicFromEd25519B64u,
  type X25519KeyPair,
} from './identity-keys.js';
export { HandshakeState, CipherState, protocolName, type NoisePatternName } from './noise.js';
export { seal, open, SEALED_OVERHEAD, MAX_SEALED_PLAINTEXT, type OpenedMessage } from './sealed.js';
export {
  isSessionDatagram,
  peekReceiverIndex,
  MessageKind,
  SESSION_VERSION,
  TRANSPORT_OVERHEAD,
} from './wire.js';
export { SESSION_DEFAULTS, type SessionTimers } from './constants.js';
export {
  SecureSession,
  MAX_SESSION_PAYLOAD,
  type SecureSessionOptions,
  type SessionState,
  type SessionStats,
  type HandleResult,
  type DropReason,
} from './secure-session.js';
export {
  ReliableChannel,
  RELIABLE_DEFAULTS,
  type ReliableOptions,
  type ReliableStats,
  type DatagramSession,
  type Notification,
} from './reliable.js';
export { RttEstimator, type RttOptions } from './rtt-estimator.js';
