/**
 * The mailbox in Redis, as Lua scripts: each runs atomically (Redis runs one script at a time),
 * so dedupe, quotas, the insert and the routing decision of a whole batch are one step that no
 * other node can interleave with — the same "one transaction per batch" as SQLite's. Key names:
 * ../../cluster/keys.ts. ARGV[1] is always the key prefix; no script declares KEYS, which is
 * why a sharded Redis Cluster is not supported (cluster-node.ts).
 *
 * Routing without races: COMMIT reads `route:{to}` in the same atomic step as the insert, and
 * CLAIM sets the route and reads the mailbox in one step too. So a notification is either in
 * what CLAIM loaded or published to the node that claimed — never neither.
 */

/** Shared helpers (prepended to the scripts that need them). */
const HELPERS = `
local P = ARGV[1]
local function routeNode(route)
  if not route then return nil end
  local tab = string.find(route, '\\t', 1, true)
  local n = string.sub(route, 1, tab - 1)
  if redis.call('EXISTS', P .. 'node:' .. n) == 1 then return n end
  return nil
end
local function num(x)
  return tonumber(x) or 0
end
-- Remove mailbox entry f ('from\\nid') of recipient to; returns the sender or nil.
local function removeOne(to, f)
  local nd = P .. 'nd:' .. to
  local v = redis.call('HGET', nd, f)
  if not v then return nil end
  local bytes = tonumber(string.sub(v, 1, string.find(v, '\\n', 1, true) - 1))
  redis.call('ZREM', P .. 'mb:' .. to, f)
  redis.call('HDEL', nd, f)
  redis.call('ZREM', P .. 'exp', to .. '\\n' .. f)
  local from = string.sub(f, 1, string.find(f, '\\n', 1, true) - 1)
  local u = P .. 'u'
  redis.call('HINCRBY', u, 'c', -1)
  redis.call('HINCRBY', u, 'b', -bytes)
  if string.sub(from, 1, 4) ~= 'app:' then
    redis.call('HINCRBY', u, 'pc', -1)
    redis.call('HINCRBY', u, 'pb', -bytes)
    local ut = P .. 'ut:' .. to
    if redis.call('HINCRBY', ut, 's:' .. from, -1) <= 0 then redis.call('HDEL', ut, 's:' .. from) end
    if redis.call('HINCRBY', ut, 'p', -1) <= 0 then redis.call('DEL', ut) end
  end
  return from
end
-- Up to lim entries of to's mailbox after seq 'after': {seq, value, seq, value, ..., more}
local function load(to, after, lim)
  local r = redis.call('ZRANGEBYSCORE', P .. 'mb:' .. to, '(' .. after, '+inf', 'WITHSCORES', 'LIMIT', 0, lim + 1)
  local n = math.min(#r / 2, lim)
  local out = {}
  if n == 0 then
    out[1] = 0
    return out
  end
  local fields = {}
  for k = 1, n do fields[k] = r[2 * k - 1] end
  local vals = redis.call('HMGET', P .. 'nd:' .. to, unpack(fields))
  for k = 1, n do
    out[#out + 1] = r[2 * k]
    out[#out + 1] = vals[k] or ''
  end
  out[#out + 1] = (#r / 2 > lim) and 1 or 0
  return out
end
`;

/**
 * One group commit. ARGV: prefix, node, mailboxQuota, perPeerSenderSlots, peerMailboxShare,
 * maxNotifications, maxBytes, peerStoreShare, then three counted lists:
 *   nPeers, (peer, publicKey, now)*   registrations (broadcast on `registered` when new; seen
 *                                       at `now`). The mailbox registers through REGISTER_LUA
 *                                       (registerNow), which also enforces the cap: this list is
 *                                       empty from it, and not capped here.
 *   nAdd, (to, from, id, expires, bytes, json)*   notifications (json without seq)
 *   nAck, (to, id, from or '')*   acks
 * Returns { outcomes, removed, totalCount } where an outcome is
 *   {'i', seq, online} inserted | {'d', seq, online} duplicate | {'r', code, which} refused
 * and a removed entry is {to, id, from, fromNode or ''}. The quota checks are store/usage.ts's,
 * in the same order with the same codes.
 */
export const COMMIT_LUA =
  HELPERS +
  `
local node = ARGV[2]
local quota, perSender, peerShare = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local maxN, maxB, storeShare = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local u = P .. 'u'
local i = 9
local nPeers = tonumber(ARGV[i]); i = i + 1
for k = 1, nPeers do
  if redis.call('HSETNX', P .. 'peers', ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('ZADD', P .. 'seen', 'NX', ARGV[i + 2], ARGV[i])
    redis.call('PUBLISH', P .. 'registered', ARGV[i] .. '\\t' .. ARGV[i + 1])
  end
  i = i + 3
end
local function accept(to, from, id, expires, bytes, json)
  local f = from .. '\\n' .. id
  local mb = P .. 'mb:' .. to
  local rnode = routeNode(redis.call('GET', P .. 'route:' .. to))
  local online = rnode and 1 or 0
  local s = redis.call('ZSCORE', mb, f)
  if s then return {'d', tonumber(s), online} end
  if redis.call('HEXISTS', P .. 'peers', to) == 0 then return {'r', 'NATPUSH_ERR_UNKNOWN_PEER', 'peer'} end
  local isPeer = string.sub(from, 1, 4) ~= 'app:'
  local g = redis.call('HMGET', u, 'c', 'b', 'pc', 'pb')
  local c, b, pc, pb = num(g[1]), num(g[2]), num(g[3]), num(g[4])
  if c + 1 > maxN or b + bytes > maxB or (isPeer and (pc + 1 > maxN * storeShare or pb + bytes > maxB * storeShare)) then
    return {'r', 'NATPUSH_ERR_STORE_QUOTA', isPeer and 'peer' or 'all'}
  end
  if redis.call('ZCARD', mb) + 1 > quota then return {'r', 'NATPUSH_ERR_MAILBOX_FULL', 'all'} end
  local ut = P .. 'ut:' .. to
  if isPeer then
    local h = redis.call('HMGET', ut, 'p', 's:' .. from)
    if num(h[1]) + 1 > math.floor(quota * peerShare) then return {'r', 'NATPUSH_ERR_MAILBOX_FULL', 'peer'} end
    if num(h[2]) + 1 > perSender then return {'r', 'NATPUSH_ERR_SENDER_QUOTA', 'peer'} end
  end
  local seq = redis.call('INCR', P .. 'seq')
  redis.call('ZADD', mb, seq, f)
  redis.call('HSET', P .. 'nd:' .. to, f, bytes .. '\\n' .. json)
  redis.call('ZADD', P .. 'exp', expires, to .. '\\n' .. f)
  redis.call('HINCRBY', u, 'c', 1)
  redis.call('HINCRBY', u, 'b', bytes)
  if isPeer then
    redis.call('HINCRBY', u, 'pc', 1)
    redis.call('HINCRBY', u, 'pb', bytes)
    redis.call('HINCRBY', ut, 'p', 1)
    redis.call('HINCRBY', ut, 's:' .. from, 1)
  end
  if rnode and rnode ~= node then
    redis.call('PUBLISH', P .. 'ch:' .. rnode, '{"t":"s","seq":' .. seq .. ',"n":' .. json .. '}')
  end
  return {'i', seq, online}
end
local outcomes = {}
local nAdd = tonumber(ARGV[i]); i = i + 1
for k = 1, nAdd do
  outcomes[k] = accept(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4]), ARGV[i + 5])
  i = i + 6
end
local removed = {}
local nAck = tonumber(ARGV[i]); i = i + 1
for k = 1, nAck do
  local to, id, from = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  i = i + 3
  local f = nil
  if from ~= '' then
    f = from .. '\\n' .. id
  else
    -- An ack naming only the id: the oldest such notification (bounded by the mailbox quota).
    local suffix = '\\n' .. id
    for _, m in ipairs(redis.call('ZRANGE', P .. 'mb:' .. to, 0, -1)) do
      if string.sub(m, -#suffix) == suffix then f = m; break end
    end
  end
  local sender = f and removeOne(to, f)
  if sender then
    local fn = routeNode(redis.call('GET', P .. 'route:' .. sender))
    if not fn or fn == node then fn = '' end
    removed[#removed + 1] = {to, id, sender, fn}
  end
end
return {outcomes, removed, num(redis.call('HGET', u, 'c'))}
`;

/**
 * Claim peer ARGV[3] for node ARGV[2] over transport ARGV[4] and load its mailbox: up to
 * ARGV[5] entries (see HELPERS load). A node that held the peer before is told (`e`).
 */
export const CLAIM_LUA =
  HELPERS +
  `
local node, peer, transport, lim = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local rk = P .. 'route:' .. peer
local old = redis.call('GET', rk)
redis.call('SET', rk, node .. '\\t' .. transport)
redis.call('SADD', P .. 'peers-of:' .. node, peer)
if old then
  local on = string.sub(old, 1, string.find(old, '\\t', 1, true) - 1)
  if on ~= node then
    redis.call('SREM', P .. 'peers-of:' .. on, peer)
    redis.call('PUBLISH', P .. 'ch:' .. on, '{"t":"e","peer":"' .. peer .. '"}')
  end
end
return load(peer, 0, lim)
`;

/** Entries of ARGV[2]'s mailbox after seq ARGV[3], at most ARGV[4] (a refill). */
export const LOAD_LUA =
  HELPERS +
  `
return load(ARGV[2], ARGV[3], tonumber(ARGV[4]))
`;

/** Node ARGV[2] releases peer ARGV[3]: the route goes unless another node took it since. */
export const RELEASE_LUA = `
local P, node, peer = ARGV[1], ARGV[2], ARGV[3]
local rk = P .. 'route:' .. peer
local r = redis.call('GET', rk)
if r and string.sub(r, 1, #node + 1) == node .. '\\t' then redis.call('DEL', rk) end
redis.call('SREM', P .. 'peers-of:' .. node, peer)
return 1
`;

/** Delete up to ARGV[3] notifications expired at ARGV[2]; returns {deleted, totalCount}. */
export const EXPIRE_LUA =
  HELPERS +
  `
local gone = redis.call('ZRANGEBYSCORE', P .. 'exp', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local n = 0
for _, m in ipairs(gone) do
  local nl = string.find(m, '\\n', 1, true)
  if removeOne(string.sub(m, 1, nl - 1), string.sub(m, nl + 1)) then n = n + 1
  else redis.call('ZREM', P .. 'exp', m) end
end
return {n, num(redis.call('HGET', P .. 'u', 'c'))}
`;

/**
 * Register peer ARGV[2] with key ARGV[3] seen at ARGV[4] ms, unless the store already holds
 * ARGV[5] registrations (peer-limits.ts: nothing is evicted to make room). A registered peer
 * is only seen again (its idle time restarts). A new one is broadcast to every node (`registered`,
 * `peer\tkey`). Returns 1, or 0 when refused at the cap.
 */
export const REGISTER_LUA = `
local P, peer, key, now, max = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
if redis.call('HEXISTS', P .. 'peers', peer) == 1 then
  local s = redis.call('ZSCORE', P .. 'seen', peer)
  if not s or tonumber(s) < now then redis.call('ZADD', P .. 'seen', now, peer) end
  return 1
end
if redis.call('HLEN', P .. 'peers') >= max then return 0 end
redis.call('HSET', P .. 'peers', peer, key)
redis.call('ZADD', P .. 'seen', now, peer)
redis.call('PUBLISH', P .. 'registered', peer .. '\\t' .. key)
return 1
`;

/**
 * Delete registrations last seen before ARGV[2], at most ARGV[4] of them, oldest first,
 * with their mailboxes (uncounted as removeOne does). A peer with a live route (a session on a
 * live node) is not idle: it is seen at ARGV[3] instead. Each deletion is broadcast on
 * `registered` with an empty key (`peer\t`), so every node forgets it. Returns
 * {notifications deleted, {peers deleted}, totalCount}.
 */
export const EXPIRE_PEERS_LUA =
  HELPERS +
  `
local cutoff, now = ARGV[2], tonumber(ARGV[3])
local idle = redis.call('ZRANGEBYSCORE', P .. 'seen', '-inf', '(' .. cutoff, 'LIMIT', 0, tonumber(ARGV[4]))
local n, gone = 0, {}
for _, peer in ipairs(idle) do
  if routeNode(redis.call('GET', P .. 'route:' .. peer)) then
    redis.call('ZADD', P .. 'seen', now, peer)
  else
    for _, f in ipairs(redis.call('ZRANGE', P .. 'mb:' .. peer, 0, -1)) do
      if removeOne(peer, f) then n = n + 1 end
    end
    redis.call('DEL', P .. 'mb:' .. peer, P .. 'nd:' .. peer, P .. 'ut:' .. peer)
    redis.call('HDEL', P .. 'peers', peer)
    redis.call('ZREM', P .. 'seen', peer)
    redis.call('PUBLISH', P .. 'registered', peer .. '\\t')
    gone[#gone + 1] = peer
  end
end
return {n, gone, num(redis.call('HGET', P .. 'u', 'c'))}
`;
