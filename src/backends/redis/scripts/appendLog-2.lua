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
                      this step: an entry above ARGV[3] stays where it is (the attempt that set
                      the marker wrote it: once per id, so a consumer never reads it twice)
    ARGV[3] "repair" only: the log head the storing process had seen before it set the marker
            (log-repair.ts SeenLogHead). An entry at or below it was there before that attempt:
            it is an earlier record's of this id (expired or deleted, then stored again), so
            the id moves to the end, where a consumer past the old position reads it.
            0 = unknown: an entry already there stays.

  Output:
    the entry's sequence number
]]
if ARGV[2] == 'repair' then
  local existing = redis.call('ZSCORE', KEYS[1], ARGV[1])
  if existing and tonumber(existing) > tonumber(ARGV[3]) then
    return tonumber(existing)
  end
end
local sequence = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], sequence, ARGV[1])
return sequence
