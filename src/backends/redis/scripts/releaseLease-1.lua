--[[
  Gives the webhook dispatcher's lease up, only if the caller holds it (a stopping process).

  Input:
    KEYS[1] the lease                     <prefix>{sms-log}:webhook-lease
    ARGV[1] the holder's id

  Output:
    1  released
    0  not held by the caller: nothing changed
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
