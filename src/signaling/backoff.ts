/**
 * Reconnect delays: exponential backoff with "full jitter" — a uniformly random delay in
 * [0, min(max, initial·factor^attempt)] — so a server restart is not met by every client at the
 * same instant (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/).
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
}

export function backoffDelay(
  o: BackoffOptions,
  attempt: number,
  random: () => number = Math.random,
): number {
  if (attempt < 0 || !Number.isInteger(attempt))
    throw new RangeError('attempt must be a non-negative integer');
  const cap = Math.min(o.maxMs, o.initialMs * o.factor ** Math.min(attempt, 30));
  return Math.floor(random() * cap);
}
