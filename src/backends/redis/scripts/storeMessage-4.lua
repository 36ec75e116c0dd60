--[[
  Stores a message record once and appends its entry to the message log, in one atomic step
  (SPEC §6 set-if-absent, §9 "the log and the record are written together").

  Steps:
    1. When the session has a set of consumer-deleted ids: renew its expiry with the session's
       (every submit renews the session), and answer "duplicate" if this id is in it.
    2. SET the record NX (with EX when records expire): an existing record is a duplicate.
    3. INCR the log's sequence and ZADD the id with it as score.

  Input:
    KEYS[1] the message key               <prefix><id>
    KEYS[2] the log's entries             <prefix>{sms-log}:entries
    KEYS[3] the log's sequence            <prefix>{sms-log}:seq
    KEYS[4] the session's deleted ids     <prefix>deleted:<client key>

    ARGV[1] the message id
    ARGV[2] the record JSON (SPEC §7)
    ARGV[3] the record's TTL in seconds, 0 = none (MESSAGE_TTL_SECONDS)
    ARGV[4] the session's TTL in seconds, 0 = none (SESSION_TTL_SECONDS)

  Output:
    > 0  stored: the entry's sequence number
      0  duplicate: nothing written (but the deleted-ids set's expiry)
]]
if redis.call('EXISTS', KEYS[4]) == 1 then
  if tonumber(ARGV[4]) > 0 then
    redis.call('EXPIRE', KEYS[4], ARGV[4])
  else
    redis.call('PERSIST', KEYS[4])
  end
  if redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 1 then
    return 0
  end
end

local stored
if tonumber(ARGV[3]) > 0 then
  stored = redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[3])
else
  stored = redis.call('SET', KEYS[1], ARGV[2], 'NX')
end
if not stored then
  return 0
end

local sequence = redis.call('INCR', KEYS[3])
-- A record stored again after it expired moves to the end: one entry per record.
redis.call('ZADD', KEYS[2], sequence, ARGV[1])
return sequence
