/**
 * Reading serve's GET /metrics (Prometheus text exposition) in integration tests.
 */

/** `name{labels} value` lines of one family, as a map from the label text to the value. */
export function series(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) out.set(m[2] ?? '', Number(m[3]));
  }
  return out;
}
