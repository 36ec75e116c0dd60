--[[
  Redis Cluster, step 2 of storing a message (in the record's slot {<id>}): SET the record NX,
  and with it its "unlogged" marker, which stays until the log entry is written (appendLog-2.lua,
  then forgetUnlogged-1.lua). A crash before that leaves the marker, and the repair
  (log-repair.ts) writes the entry: every stored record ends up in the log.

  Input:
    KEYS[1] the message key               <prefix>msg:{<id>}
    KEYS[2] the record's marker           <prefix>unlogged:{<id>}

    ARGV[1] the record JSON (SPEC §7)
    ARGV[2] the record's TTL in seconds, 0 = none (MESSAGE_TTL_SECONDS); the marker gets it too,
            since a record that expired needs no entry
    ARGV[3] the marker's value, "<ms>:<sequence>": when it was set, in ms since 1970 (the repair
            leaves young ones to the request still writing them), and the log head the process
            had seen before (the repair tells an earlier record's entry from this one's by it)

  Output:
    1  stored, marker set
    0  duplicate: nothing written
]]
local ttl = tonumber(ARGV[2])
local stored
if ttl > 0 then
  stored = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ttl)
else
  stored = redis.call('SET', KEYS[1], ARGV[1], 'NX')
end
if not stored then
  return 0
end
if ttl > 0 then
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ttl)
else
  redis.call('SET', KEYS[2], ARGV[3])
end
return 1
