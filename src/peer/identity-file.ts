/**
 * The identity file: the peer's Ed25519 private key as PKCS#8 PEM, mode 0600, created on first
 * use. The peer id is derived from it (src/signaling/identity.ts), so losing the file means a
 * new id.
 */
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createSecretFile } from '../server/secrets.js';
import { SignalingError, SignalingErrorCode } from '../signaling/errors.js';
import {
  generateIdentity,
  identityFromPem,
  identityToPem,
  type Identity,
} from '../signaling/identity.js';

/** `$XDG_CONFIG_HOME/natpush/identity.pem`, else `~/.config/natpush/identity.pem`. */
export function defaultIdentityPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'natpush', 'identity.pem');
}

export interface LoadedIdentity {
  identity: Identity;
  path: string;
  created: boolean;
}

export function loadOrCreateIdentity(path: string): LoadedIdentity {
  let pem: string | undefined;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new SignalingError(
        SignalingErrorCode.IDENTITY,
        `cannot read identity ${path}: ${String(err)}`,
        { cause: err },
      );
    }
  }
  if (pem !== undefined) {
    // A key readable by others is not an identity any more; refuse instead of silently using it.
    if ((statSync(path).mode & 0o077) !== 0) {
      throw new SignalingError(
        SignalingErrorCode.IDENTITY,
        `identity ${path} is readable by others; chmod 600 it`,
      );
    }
    try {
      return { identity: identityFromPem(pem), path, created: false };
    } catch (err) {
      throw new SignalingError(
        SignalingErrorCode.IDENTITY,
        `identity ${path} is not an Ed25519 PKCS#8 PEM key`,
        { cause: err },
      );
    }
  }
  const identity = generateIdentity();
  // Never overwrites a key another process created meanwhile, never shows it half-written.
  if (createSecretFile(path, identityToPem(identity)) === 'exists')
    return loadOrCreateIdentity(path);
  return { identity, path, created: true };
}
