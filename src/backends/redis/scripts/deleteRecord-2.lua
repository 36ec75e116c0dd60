--[[
  Redis Cluster, step 2 of a consumer's delete (in the record's slot): the record goes, and its
  "unlogged" marker with it (a deleted record needs no log entry). Then the caller ZREMs the
  entry from the {sms-log} slot.

  Input:
    KEYS[1] the message key               <prefix>msg:{<id>}
    KEYS[2] the record's marker           <prefix>unlogged:{<id>}

  Output:
    1  deleted
    0  no such record
]]
redis.call('DEL', KEYS[2])
return redis.call('DEL', KEYS[1])
