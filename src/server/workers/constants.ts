/**
 * Limits of the worker processes behind `relay --workers` / `stun --workers` (STYLE.md §5).
 */
/** More processes than this is a typo: a 64-core host is the largest we plan for. */
export const MAX_WORKERS = 64;
/** A worker that has not said `ready` over IPC by then failed to start (binds, not work, happen
 *  before ready: a second is plenty even on a loaded 2-core CI machine). */
export const WORKER_READY_TIMEOUT_MS = 15_000;
/** A worker that died is replaced after this pause (a crash loop must not spin a core)... */
export const RESPAWN_DELAY_MS = 200;
/** ...and at most this many times per RESPAWN_WINDOW_MS, after which the slot stays empty and the
 *  primary logs an error (the other workers keep serving). */
export const MAX_RESPAWNS_PER_WINDOW = 10;
export const RESPAWN_WINDOW_MS = 60_000;
/** SIGTERM, then SIGKILL a worker that has not exited after this long at shutdown. */
export const WORKER_STOP_TIMEOUT_MS = 5_000;
/** How many times a port picked for `--port 0` is tried before giving up (another process may
 *  take it between the pick and the workers' SO_REUSEPORT binds). */
export const PORT_PICK_ATTEMPTS = 5;
/** A worker's answer to a primary's question (counters) must come within this; else it is skipped. */
export const WORKER_QUERY_TIMEOUT_MS = 2_000;
/** A starting worker gets the others' allocation copies (mirror-cache.ts) in messages of at most
 *  this many entries: ~60 KB of JSON each at the bounds, so the primary's pipe to the other
 *  workers is never held up by one 10,000-allocation message. */
export const MIRROR_SNAPSHOT_CHUNK = 256;
/** Sibling lookups (pool.ts) the primary keeps in flight at once: each worker has at most
 *  relay constants' MAX_SIBLING_LOOKUPS (64) open, so this holds 64 workers' worth (MAX_WORKERS). */
export const MAX_PENDING_LOOKUPS = 64 * 64;
