--[[
  Issue 15: the session side of one accepted submit in one step (REDIS_AUTH_DB): the SPEC §11
  AES-CBC content claim when there is one, then the renewal of the session and of its guard hash
  (SPEC §4: each submit renews the session). Before, these were up to three commands
  (claimContent-1, EXPIRE session, EXPIRE guard). Both keys belong to one client key, so on
  Redis Cluster they share its hash tag (keys.ts) and this script one slot.

  Steps:
    1. ARGV[2] non-empty (a claim): as claimContent-1. The hash belongs to an earlier session of
       this client key: drop it and start over. The fingerprint is claimed with another id:
       return that id, renew nothing (the submit is answered `duplicate` without a store).
       Else claim it for ARGV[3].
    2. Renew: EXPIRE the session key, and the guard hash when it exists, with ARGV[4]
       (0 = PERSIST both: the session never expires, as SessionStore.renew does).

  Input:
    KEYS[1] the session                      <prefix><client key>
    KEYS[2] the session's guard hash         keys.ts: sessionGuard
    ARGV[1] the session record's created_at
    ARGV[2] the content fingerprint (64 hex), or '' for no claim
    ARGV[3] the message id
    ARGV[4] the session TTL in seconds; 0 = none

  Output:
    false   renewed (and, with a claim, claimed now for ARGV[3] or before for ARGV[3])
    string  the message id the content was claimed with before (nothing renewed)
]]
local session = KEYS[1]
local guard = KEYS[2]
if ARGV[2] ~= '' then
  if redis.call('HGET', guard, 'session') ~= ARGV[1] then
    redis.call('DEL', guard)
    redis.call('HSET', guard, 'session', ARGV[1])
  end
  local field = 'content:' .. ARGV[2]
  local first = redis.call('HGET', guard, field)
  if first and first ~= ARGV[3] then
    return first
  end
  if not first then
    redis.call('HSET', guard, field, ARGV[3])
  end
end
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  redis.call('EXPIRE', session, ttl)
  redis.call('EXPIRE', guard, ttl)
else
  redis.call('PERSIST', session)
  redis.call('PERSIST', guard)
end
return false
