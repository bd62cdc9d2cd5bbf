/**
 * `--redis URL` → ioredis options. `redis://[user:pass@]host[:port][/db]` and `rediss://` (TLS)
 * as ioredis reads them; `unix:///path/to/redis.sock[?db=N]` for a local socket (the tests use
 * one: no port to pick). The password never reaches a log line: `redactRedisUrl` is what is
 * printed.
 */
import type { RedisOptions } from 'ioredis';

export interface RedisTarget {
  /** Passed to `new Redis(url?, options)`. */
  url: string | undefined;
  options: RedisOptions;
}

export function parseRedisUrl(raw: string): RedisTarget {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new TypeError(`--redis: not a URL: ${redactRedisUrl(raw)}`);
  }
  if (u.protocol === 'unix:') {
    const db = Number(u.searchParams.get('db') ?? 0);
    if (!Number.isInteger(db) || db < 0) throw new TypeError('--redis: ?db= must be an integer');
    return { url: undefined, options: { path: decodeURIComponent(u.pathname), db } };
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new TypeError(`--redis: redis://, rediss:// or unix:// expected, got ${u.protocol}`);
  return { url: raw, options: {} };
}

/** The URL without its password, for logs and /readyz. */
export function redactRedisUrl(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<invalid redis url>';
  }
}
