/**
 * The relay's long-term credentials (RFC 8489 §9.2) from its options: a TURN REST shared secret
 * (coturn `use-auth-secret`) and/or static users, from flags, files or the environment. Never an
 * open relay: no credentials is a usage error.
 */
import type { CredentialStore } from '../relay/index.js';
import { sharedSecret, staticUsers } from '../relay/index.js';
import { optionError } from './errors.js';
import { readSecretFile, SECRET_ENV, secretLines, type Warn } from './secrets.js';

export interface RelayCredentialOptions {
  secret?: string | undefined;
  'secret-file'?: string | undefined;
  user: string[];
}

/** The shared secret: the flag, else the file's first line, else $NATPUSH_TURN_SECRET. */
export function relaySecret(
  o: Pick<RelayCredentialOptions, 'secret' | 'secret-file'>,
  env: NodeJS.ProcessEnv,
  warn: Warn,
): string | undefined {
  return (
    o.secret ??
    (o['secret-file'] ? readSecretFile(o['secret-file'], warn)[0] : undefined) ??
    secretLines(env[SECRET_ENV.turnSecret])[0]
  );
}

/** Static users `name:password` from --user and $NATPUSH_TURN_USERS. */
export function relayUsers(
  o: Pick<RelayCredentialOptions, 'user'>,
  env: NodeJS.ProcessEnv,
): Record<string, string> {
  const users: Record<string, string> = {};
  for (const u of [...o.user, ...secretLines(env[SECRET_ENV.turnUsers])]) {
    const i = u.indexOf(':');
    if (i <= 0) throw optionError(`--user wants name:password, got ${JSON.stringify(u)}`);
    users[u.slice(0, i)] = u.slice(i + 1);
  }
  return users;
}

export function relayCredentials(
  o: RelayCredentialOptions,
  env: NodeJS.ProcessEnv = {},
  warn: Warn = () => {},
): CredentialStore {
  const secret = relaySecret(o, env, warn);
  const users = relayUsers(o, env);
  const stores: CredentialStore[] = [];
  if (secret) stores.push(sharedSecret(secret));
  if (Object.keys(users).length > 0) stores.push(staticUsers(users));
  if (stores.length === 0) {
    throw optionError(
      `the relay needs credentials: --secret-file, $${SECRET_ENV.turnSecret}, $${SECRET_ENV.turnUsers} or --user name:password (never an open relay)`,
    );
  }
  if (stores.length === 1) return stores[0]!;
  // Static users first (coturn does the same when both are configured).
  return {
    password: (u, r, now) => stores[1]!.password(u, r, now) ?? stores[0]!.password(u, r, now),
    userOf: (u) => (users[u] !== undefined ? u : stores[0]!.userOf(u)),
  };
}
