--[[
  A consumer deletes a record (SPEC §9): the record and its log entry go; the id is remembered
  for duplicate detection while the session that sent it can still resend it.

  Steps:
    1. ZREM the id from the log (an entry whose record already expired goes too).
    2. DEL the record; nothing more when there was none.
    3. Unless the sending session has ended: SADD the id to that session's deleted ids, whose
       expiry is the session's (storeMessage-4.lua renews it with every submit).

  Input:
    KEYS[1] the message key               <prefix><id>
    KEYS[2] the log's entries             <prefix>{sms-log}:entries
    KEYS[3] the session's deleted ids     <prefix>deleted:<client key>

    ARGV[1] the message id
    ARGV[2] the session's remaining life in ms (its PTTL): > 0 expires then, -1 never, -2 no session

  Output:
    1  deleted
    0  no such record
]]
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('DEL', KEYS[1]) == 0 then
  return 0
end

local remaining = tonumber(ARGV[2])
if remaining ~= -2 then
  redis.call('SADD', KEYS[3], ARGV[1])
  if remaining > 0 then
    redis.call('PEXPIRE', KEYS[3], remaining)
  else
    redis.call('PERSIST', KEYS[3])
  end
end
return 1
