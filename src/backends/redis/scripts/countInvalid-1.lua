--[[
  SPEC §10: counts one more `invalid message` answer in a session.

  Steps:
    1. the hash belongs to an earlier session of this client key: drop it and start over;
    2. add one to the count and give the hash the session's expiry.

  Input:
    KEYS[1] the session's guard hash (keys.ts: sessionGuard)
    ARGV[1] the session record's created_at
    ARGV[2] the session TTL in seconds; 0 = none

  Output:
    integer  the count in this session, this answer included
]]
local key = KEYS[1]
if redis.call('HGET', key, 'session') ~= ARGV[1] then
  redis.call('DEL', key)
  redis.call('HSET', key, 'session', ARGV[1])
end
local count = redis.call('HINCRBY', key, 'invalid', 1)
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('EXPIRE', key, ttl)
else
  redis.call('PERSIST', key)
end
return count
