--[[
  Makes this connection's replication offset cover an existing record, without changing it, so
  that a following WAIT (replication-wait.ts) says whether replicas hold that record. Used when a
  submit is a duplicate and REDIS_WAIT_REPLICAS > 0: a `duplicate` must not confirm a record only
  the primary holds. WAIT counts from the connection's last write that was replicated; a duplicate
  writes nothing, so without this its WAIT could vouch for an older offset.

  Steps:
    1. When the record exists, APPEND an empty string to it: the value, type and expiry stay as
       they are, but the command is replicated (APPEND always is), which moves the offset.

  Input:
    KEYS[1] the message key               <prefix><id>

  Output:
    1  the record exists (now covered by the next WAIT)
    0  no record (nothing written)
]]
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('APPEND', KEYS[1], '')
  return 1
end
return 0
