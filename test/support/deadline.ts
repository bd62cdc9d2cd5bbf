/**
 * A deadline for a wait on something outside the test (a child process, a native library, a
 * server): rejects after `ms` saying what was awaited and the state seen then, so a test waiting
 * on it fails with where it stood, never by vitest's bare timeout.
 */
export function within<T>(
  p: Promise<T>,
  ms: number,
  what: string,
  state: () => string = () => '',
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => {
      const s = state();
      reject(new Error(`timed out after ${ms} ms waiting for ${what}${s ? `; state: ${s}` : ''}`));
    }, ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e: unknown) => (clearTimeout(t), reject(e instanceof Error ? e : new Error(String(e)))),
    );
  });
}
