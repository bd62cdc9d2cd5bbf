/** The whole server's counters from each worker's: numbers are summed, objects merged by key. */
export function mergeCounters(list: Record<string, unknown>[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of list) {
    for (const [k, v] of Object.entries(c)) {
      if (typeof v === 'number') out[k] = ((out[k] as number | undefined) ?? 0) + v;
      else if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
        const prev = (out[k] as Record<string, unknown> | undefined) ?? {};
        out[k] = mergeCounters([prev, v as Record<string, unknown>]);
      }
    }
  }
  return out;
}
