--[[
  SPEC §11: claims an AES-CBC envelope's content (encryptedKey + iv + ciphertext) for one
  session, or says which message id claimed it first.

  Steps:
    1. the hash belongs to an earlier session of this client key: drop it and start over;
    2. the fingerprint is claimed: return its id;
    3. else claim it for ARGV[3] and give the hash the session's expiry.

  Input:
    KEYS[1] the session's guard hash (keys.ts: sessionGuard)
    ARGV[1] the session record's created_at
    ARGV[2] the content fingerprint (64 hex)
    ARGV[3] the message id
    ARGV[4] the session TTL in seconds; 0 = none

  Output:
    false   claimed now, for ARGV[3]
    string  the message id it was claimed with before
]]
local key = KEYS[1]
if redis.call('HGET', key, 'session') ~= ARGV[1] then
  redis.call('DEL', key)
  redis.call('HSET', key, 'session', ARGV[1])
end
local field = 'content:' .. ARGV[2]
local first = redis.call('HGET', key, field)
if first then
  return first
end
redis.call('HSET', key, field, ARGV[3])
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  redis.call('EXPIRE', key, ttl)
else
  redis.call('PERSIST', key)
end
return false
