/**
 * natpush's public library API. See README.md.
 */
export { NatpushError, isNatpushError } from './util/errors.js';
export type { Clock } from './util/clock.js';
export type { Logger } from './util/logger.js';
export * as stun from './stun/index.js';
export * as net from './net/index.js';
