--[[
  Redis Cluster: removes a record's "unlogged" marker once its log entry is written, only if it
  is still the marker that step set (the record may have expired and been stored again since,
  with a marker of its own).

  Input:
    KEYS[1] the record's marker           <prefix>unlogged:{<id>}
    ARGV[1] the marker's value as set (storeRecord-2.lua) or read (claimUnlogged-2.lua)

  Output:
    1  removed
    0  not there, or another marker now
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
