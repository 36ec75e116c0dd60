--[[
  Moves the webhook's delivered mark forward, fenced by the lease: a process that lost its lease
  (paused past its expiry) cannot move the mark of the one that holds it now.

  Input:
    KEYS[1] the lease                     <prefix>{sms-log}:webhook-lease
    KEYS[2] the delivered mark            <prefix>{sms-log}:webhook-delivered

    ARGV[1] the holder's id
    ARGV[2] the new mark (a sequence number)

  Output:
    1  the mark is at least ARGV[2]
    0  refused: the caller does not hold the lease
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local current = tonumber(redis.call('GET', KEYS[2])) or 0
if tonumber(ARGV[2]) > current then
  redis.call('SET', KEYS[2], ARGV[2])
end
return 1
