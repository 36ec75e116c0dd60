--[[
  Redis Cluster, step 3 of storing a message (in the {sms-log} slot): the log entry of a
  record stored by storeRecord-2.lua.

  Input:
    KEYS[1] the log's entries             <prefix>{sms-log}:entries
    KEYS[2] the log's sequence            <prefix>{sms-log}:seq

    ARGV[1] the message id
    ARGV[2] "stored": the record was just written, so the id gets a new sequence number (an
                      entry left by an earlier, expired record of this id moves to the end, as
                      in storeMessage-4.lua: one entry per record);
            "repair": from log-repair.ts, for a marker left by a crash that may have come after
                      this step: an entry already there stays where it is (ZADD once per id, so
                      a consumer never reads it twice)

  Output:
    the entry's sequence number
]]
if ARGV[2] == 'repair' then
  local existing = redis.call('ZSCORE', KEYS[1], ARGV[1])
  if existing then
    return tonumber(existing)
  end
end
local sequence = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], sequence, ARGV[1])
return sequence
