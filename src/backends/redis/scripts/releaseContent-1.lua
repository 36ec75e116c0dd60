--[[
  Undoes a content claim whose message could not be stored, unless something else holds it now.

  Input:
    KEYS[1] the session's guard hash (keys.ts: sessionGuard)
    ARGV[1] the session record's created_at
    ARGV[2] the content fingerprint
    ARGV[3] the message id the claim was made for

  Output:
    1 released, 0 not claimed by this session for this id
]]
local key = KEYS[1]
local field = 'content:' .. ARGV[2]
if redis.call('HGET', key, 'session') == ARGV[1] and redis.call('HGET', key, field) == ARGV[3] then
  redis.call('HDEL', key, field)
  return 1
end
return 0
