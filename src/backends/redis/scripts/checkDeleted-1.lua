--[[
  Redis Cluster, step 1 of storing a message (storeMessage-4.lua's step 1, in the session's
  slot): renews the session's deleted-ids set with the session, and says whether a consumer
  deleted this id in this session (then the resubmit is a duplicate).

  Input:
    KEYS[1] the session's deleted ids     <prefix>deleted:{<client key>}

    ARGV[1] the message id
    ARGV[2] the session's TTL in seconds, 0 = none (SESSION_TTL_SECONDS)

  Output:
    1  deleted in this session: answer duplicate, store nothing
    0  not deleted: go on to storeRecord-2.lua
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
if tonumber(ARGV[2]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
else
  redis.call('PERSIST', KEYS[1])
end
return redis.call('SISMEMBER', KEYS[1], ARGV[1])
