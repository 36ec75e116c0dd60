--[[
  Redis Cluster: the repair's look at one "unlogged" marker (log-repair.ts), in the record's slot.

  Steps:
    1. no marker: nothing to do;
    2. the record is gone (expired, deleted): it needs no entry, the marker goes;
    3. the marker is younger than ARGV[1]: a request may still be writing the entry, leave it;
    4. else the marker's value, for appendLog-2.lua "repair" (with the log head it carries) and
       then forgetUnlogged-1.lua.

  Input:
    KEYS[1] the message key               <prefix>msg:{<id>}
    KEYS[2] the record's marker           <prefix>unlogged:{<id>}

    ARGV[1] repair only markers set before this time (ms since 1970)

  Output:
    false   nothing to repair
    string  the marker's value: repair this record's entry
]]
local marker = redis.call('GET', KEYS[2])
if not marker then
  return false
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
  return false
end
-- The marker is "<ms>:<log head seen>" (log-repair.ts unloggedMarker): its age is the part before ':'.
if (tonumber(string.match(marker, '^%d+')) or 0) >= tonumber(ARGV[1]) then
  return false
end
return marker
