/**
 * Lua run atomically inside Redis for the node registry (the mailbox's scripts are in
 * ../signaling/store/redis-scripts.ts). ARGV[1] is always the key prefix (keys.ts).
 */

/**
 * Reap dead node ARGV[2]: delete the routes that still point at it (a peer that reconnected to
 * another node meanwhile has a route there: kept), forget the node. Returns the peers whose
 * route was deleted.
 */
export const REAP_LUA = `
local P, dead = ARGV[1], ARGV[2]
local set = P .. 'peers-of:' .. dead
local out = {}
for _, peer in ipairs(redis.call('SMEMBERS', set)) do
  local rk = P .. 'route:' .. peer
  local r = redis.call('GET', rk)
  if r and string.sub(r, 1, #dead + 1) == dead .. '\\t' then
    redis.call('DEL', rk)
    out[#out + 1] = peer
  end
end
redis.call('DEL', set)
redis.call('SREM', P .. 'nodes', dead)
return out
`;

/**
 * Note peer ARGV[1] seen at the IP of KEYS[1] (`relay-seen:{ip}`) until ARGV[2] (ms), re-arm the
 * key's TTL (ARGV[3] ms), and keep the hash at most ARGV[4] fields (ARGV[5]: now, ms). Past the
 * cap, fields already expired go first, then the soonest to expire, down to 3/4 of the cap, so
 * the O(cap) pass runs once per cap/4 new peers and not at every write (rendezvous-pairs.ts
 * armSeen). The field just written expires last, so it stays. Returns the fields deleted.
 */
export const ARM_SEEN_LUA = `
local key, peer, expiry, ttl = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local max, now = tonumber(ARGV[4]), tonumber(ARGV[5])
redis.call('HSET', key, peer, expiry)
redis.call('PEXPIRE', key, ttl)
if redis.call('HLEN', key) <= max then return 0 end
local all = redis.call('HGETALL', key)
local live, dead = {}, {}
for i = 1, #all, 2 do
  local e = tonumber(all[i + 1])
  if e == nil or e <= now then dead[#dead + 1] = all[i] else live[#live + 1] = { all[i], e } end
end
if #live > max then
  table.sort(live, function(a, b) return a[2] < b[2] end)
  for i = 1, #live - math.max(1, math.floor(max * 3 / 4)) do dead[#dead + 1] = live[i][1] end
end
for i = 1, #dead, 1000 do
  redis.call('HDEL', key, unpack(dead, i, math.min(i + 999, #dead)))
end
return #dead
`;
