--[[
  Redis Cluster, step 1 of a consumer's delete (deleteMessage-3.lua's step 3, in the session's
  slot, done first on a cluster: a crash after it leaves the record, which the consumer's
  retry deletes, rather than a deleted id that duplicate detection forgot).

  Input:
    KEYS[1] the session's deleted ids     <prefix>deleted:{<client key>}

    ARGV[1] the message id
    ARGV[2] the session's remaining life in ms (its PTTL): > 0 expires then, -1 never
            (the caller skips this step when there is no session: -2)

  Output:
    1  remembered
]]
redis.call('SADD', KEYS[1], ARGV[1])
local remaining = tonumber(ARGV[2])
if remaining > 0 then
  redis.call('PEXPIRE', KEYS[1], remaining)
else
  redis.call('PERSIST', KEYS[1])
end
return 1
