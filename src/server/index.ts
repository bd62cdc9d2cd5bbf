/**
 * Server composition (issue 10, item 4): the relay, STUN and whole `serve` as the CLI runs them,
 * from one options schema per command, for library callers too.
 *
 * ```ts
 * const relay = await createRelay({ port: 3478, secret, workers: 2 }); // SO_REUSEPORT workers
 * const serve = await createServe({ host: '127.0.0.1', 'data-dir': dir });
 * ```
 */
export { createRelay, type Relay } from './create-relay.js';
export { createServe, type Serve, type ServeDeps, type Service } from './create-serve.js';
export { createStun, type Stun } from './create-stun.js';
export { relaySchema, type RelayArgs, type RelayOptions, WORKERS_MODES } from './relay-options.js';
export { serveSchema, type ServeArgs, type ServeOptions } from './serve-options.js';
export { stunSchema, type StunArgs, type StunOptions } from './stun-options.js';
export { flagsOf, parseOptions, withFlags, type OptionsSchema } from './options-schema.js';
export { SERVER_ERR, type ServerErrorCode } from './errors.js';
export { hasReusePort } from './workers/runtime.js';
