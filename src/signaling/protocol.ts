/**
 * The natpush signaling protocol, version 1: JSON text frames over a WebSocket
 * (`GET /v1/ws`, subprotocol `natpush.v1`). Every frame is one JSON object with a `type`; every
 * frame in both directions is validated by a zod schema before anything acts on it.
 * Frames larger than `LIMITS.maxFrameBytes`, frames that are not JSON, or that do not match a
 * schema, get an `error` frame with a stable code and the connection is closed.
 *
 * This module is the protocol's index: the schemas live in protocol-fields.ts (shared fields),
 * client-messages.ts (client → server, HTTP bodies), server-messages.ts (server → client) and
 * frame-codec.ts (text ⇄ message), and are re-exported from here.
 *
 * ## Compatibility: strict in what serve takes, tolerant in what a client takes
 *
 * Version 1 grows by optional fields, new enum values and new frame types only (a change an old peer cannot ignore
 * needs `PROTOCOL_VERSION` 2). So that a client keeps working against a newer serve (this one
 * added `welcome.turn` and `nat` facts after clients were out), the two directions are parsed
 * differently, as long-lived protocols do (RFC 9413 discusses the trade; we keep the server end
 * strict because that is where hostile input arrives):
 *
 * - client → server (`clientMessage`, the HTTP bodies): `z.strictObject` everywhere. A field serve
 *   does not know is BAD_FRAME and closes the connection: it is either an attack or a client newer
 *   than serve, and a newer client must not rely on an older serve acting on a field it ignores.
 * - server → client (`serverMessage`, nested objects included): `z.object`, which STRIPS keys it
 *   does not know (never passes them through to the application), and `decodeServerFrame`
 *   returns `{ known: false }` for a frame `type` it does not know, which the client logs at
 *   debug level and ignores. An enum value it does not know is read by the field's class
 *   (open-enum.ts: informational fields read it as absent or `'unknown'`, a candidate of an
 *   unknown kind is left out of its list, `error.code` is open). Still fatal for the connection
 *   (the client drops it and reconnects): a frame that is not JSON, not an object, has no string
 *   `type`, is too large, or is a known type whose known fields are missing or of the wrong JSON
 *   type (an enum value that is not a short string included).
 * - Every server frame goes through `decodeServerFrame` / `acceptServerFrame` whatever carried
 *   it: WebSocket, an SSE event or a long-poll reply (http-frames.ts).
 *
 * ## Messages
 *
 * | type         | dir  | fields                                            | meaning                                                         |
 * | ------------ | ---- | ------------------------------------------------- | --------------------------------------------------------------- |
 * | `hello`      | C→S  | v, peer, publicKey, token?, region?               | open: protocol version, claimed peer id, Ed25519 key, admission |
 * | `challenge`  | S→C  | server, nonce, expires                            | sign this (identity.ts `challengeText`), once, before `expires` |
 * | `auth`       | C→S  | nonce, signature                                  | Ed25519 signature over the challenge text                       |
 * | `welcome`    | S→C  | v, peer, server, sessionToken, time, limits, turn?, frames? | admitted; token also opens SSE / long-poll; `turn`: as below; `frames`: newer frame types it takes (`punch-end`) |
 * | `allow`      | C→S  | peers[], anyone                                   | my contact list: who sees my presence and may rendezvous with me |
 * | `watch`      | C→S  | peers[]                                           | subscribe to presence of these peers (replaces the list)        |
 * | `presence`   | S→C  | peer, online, transport?                          | a watched peer that allows you came online / went offline       |
 * | `candidates` | C→S  | to, rid, candidates[], ufrag?, pwd?, nat?         | rendezvous: my transport candidates for session `rid`           |
 * | `candidates` | S→C  | from, rid, candidates[], ufrag?, pwd?, answered?, nat? | … forwarded to the other peer (if it allows the sender)         |
 * | `offer`      | C→S  | candidates[], ufrag, pwd, nat?                    | my warm candidates + one-time credentials: answer a punch now   |
 * | `punch`      | C→S  | to, rid                                           | ask for a coordinated punch with `to`                           |
 * | `punch-start`| S→C  | from, rid, at, rtt                                | both sides: start probing at server time `at` (ms since epoch)  |
 * | `punch-end`  | C→S  | to, rid, ufrag?, reason                           | my side of punch `rid` ended without a path (gate as `punch`)   |
 * | `punch-end`  | S→C  | from, rid, ufrag?, reason                         | … forwarded: end your side of that punch now, not at its timeout |
 * | `p2p`        | C→S  | to, data                                          | best-effort datagram (base64url ≤ 1400 B) for `to`, not stored  |
 * | `p2p`        | S→C  | from, data                                        | … forwarded (if `to` allows the sender)                         |
 * | `key-request`| C→S  | ref, peer                                         | the Ed25519 key `peer` registered with                          |
 * | `key`        | S→C  | ref, peer, publicKey                              | … check `peerIdFromPublicKey(publicKey) === peer`               |
 * | `notify`     | C→S  | ref, id, to, topic?, body, ttl?                   | send a notification; `id` is chosen by the sender (idempotent)  |
 * | `accepted`   | S→C  | ref, id, to, online, duplicate                    | durably stored (mailbox): the server-side ack                   |
 * | `deliver`    | S→C  | n: {id, from, to, topic, body, ts, expires}       | a notification for you (may repeat: dedupe by id)               |
 * | `ack`        | C→S  | ids[]                                             | end-to-end ack: these were handed to the application            |
 * | `delivered`  | S→C  | id, to, via                                       | to the sender: the recipient acked `id`, it came over `via`     |
 * | `turn-credentials` | C→S | ref, region?                                 | ask for short-lived TURN credentials for `serve`'s relay        |
 * | `turn-credentials` | S→C | ref, username, password, ttl, expires, urls[] | TURN REST credentials (`expiry:peerId`), valid `ttl` seconds   |
 * | `ping`/`pong`| both | t                                                 | application-level RTT (WebSocket pings keep the path alive)     |
 * | `error`      | S→C  | code, message, ref?, fatal                        | typed error; `fatal` ⇒ the server closes the socket next        |
 *
 * Ids, refs and rids are `[A-Za-z0-9_.:-]{1,64}`; topics are printable (no C0/C1/DEL, no bidi
 * controls), at most 128. A peer's `notify` body may be `LIMITS.maxSealedBodyBytes` (24 KiB);
 * an API-key HTTP body `LIMITS.maxBodyBytes` (16 KiB).
 *
 * Privacy (issue 8, finding 5): presence of P reaches watcher W only if P's `allow` names W (or
 * says `anyone`); otherwise W sees `online:false`, exactly as for a peer that never registered,
 * and `accepted.online` / `delivered` are withheld the same way. Rendezvous frames (`candidates`,
 * `punch`, `punch-end`, `p2p`) from X reach P only if P is on a WebSocket and allows X; otherwise they are
 * dropped without an answer (an error would tell X that P exists and is online) and counted as
 * `natpush_dropped_frames_total{reason="rendezvous_refused"}`. Acks may only name notifications
 * in flight to the acking peer; others are dropped and counted (`reason="unknown_ack"`).
 *
 * SSE (`GET /v1/events`) and long-poll (`GET /v1/poll`) carry the same `deliver` payloads and
 * take acks at `POST /v1/acks`; they authenticate with the `sessionToken` of a `welcome`, or one
 * obtained over HTTP by the same challenge: `POST /v1/challenge` then `POST /v1/session`. Such
 * peers get TURN credentials at `POST /v1/turn-credentials` (session token; the reply's fields
 * without `type` and `ref`).
 *
 * ## Sequence
 *
 * ```mermaid
 * sequenceDiagram
 *   participant A as peer A
 *   participant S as natpush serve
 *   participant B as peer B
 *   A->>S: hello {v:1, peer, publicKey, token?}
 *   S->>A: challenge {server, nonce, expires}
 *   A->>S: auth {nonce, signature}
 *   S->>A: welcome {sessionToken, limits}
 *   A->>S: allow {peers:[B], anyone:false}
 *   B->>S: hello / auth (same)
 *   S->>B: welcome
 *   B->>S: allow {peers:[A], anyone:false}
 *   A->>S: watch {peers:[B]}
 *   S->>A: presence {peer:B, online:true}
 *   A->>S: key-request {ref, peer:B}
 *   S->>A: key {ref, peer:B, publicKey}
 *   Note over A: check peerIdFromPublicKey(publicKey) == B
 *   A->>S: notify {ref, id, to:B, body}
 *   Note over S: fsync to mailbox (SQLite WAL)
 *   S->>A: accepted {ref, id, online:true}
 *   S->>B: deliver {n}
 *   B->>S: ack {ids:[id]}
 *   Note over S: delete from mailbox
 *   S->>A: delivered {id, via:websocket}
 *   A->>S: candidates {to:B, rid, candidates}
 *   S->>B: candidates {from:A, rid, candidates}
 *   B->>S: candidates {to:A, rid, candidates}
 *   S->>A: candidates {from:B, rid, candidates}
 *   A->>S: punch {to:B, rid}
 *   S->>A: punch-start {from:B, rid, at}
 *   S->>B: punch-start {from:A, rid, at}
 *   A->>S: p2p {to:B, data}
 *   S->>B: p2p {from:A, data}
 *   Note over S: no UDP path yet: session datagrams ride the server, best effort
 * ```
 *
 * Delivery is at-least-once on the wire (a `deliver` not acked within `TIMING.retryAfterMs`,
 * or still unacked when the peer reconnects, is sent again) and exactly-once to the application
 * because the receiver drops ids it has already seen (src/peer/dedupe.ts). The server sends a
 * peer's notifications in mailbox order, which is arrival order, so each sender's notifications
 * arrive in the order they were accepted.
 */
export * from './protocol-fields.js';
export * from './client-messages.js';
export * from './server-messages.js';
export * from './frame-codec.js';
