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
